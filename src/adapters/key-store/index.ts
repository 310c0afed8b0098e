/**
 * The KeyStore adapters: memory (tests), SQLite (keys.sqlite in the data dir: the api, or
 * processes sharing one data dir) and the NATS JetStream key-value bucket FAAS_KEYS (apis on
 * several hosts, which share no data dir). src/entry/open-key-store.ts picks one from the config.
 */
export { createEphemeralKeyStore, createMemoryKeyStorage, createMemoryKeyStore } from './memory.ts';
export { keysBucket, type NatsKvKeyStorageOptions, openNatsKvKeyStorage, openNatsKvKeyStore } from './nats-kv.ts';
export { createSqliteKeyStorage, createSqliteKeyStore, type SqliteKeyStorageOptions } from './sqlite.ts';
