/**
 * The KeyStore adapters: memory (tests) and SQLite (keys.sqlite in the data dir: the api, or
 * processes sharing one data dir). Apis on several hosts need a store they share, which neither
 * is: a NATS key-value adapter is the next step (docs/architecture.md).
 */
export { createMemoryKeyStorage, createMemoryKeyStore } from './memory.ts';
export { createSqliteKeyStorage, createSqliteKeyStore, type SqliteKeyStorageOptions } from './sqlite.ts';
