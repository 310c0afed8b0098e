import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type NatsConnect, natsConnectionOptions } from '../adapters/job-bus/index.ts';
import { createSqliteKeyStore, openNatsKvKeyStore } from '../adapters/key-store/index.ts';
import { importMasterKeyring } from '../auth/envelope.ts';
import type { Config } from '../config-type.ts';
import type { KeyStore } from '../ports/key-store.ts';
import { type MasterKeyBytes, resolveMasterKeys } from './dev-master-key.ts';
import type { OpenSqlite } from './open-stores.ts';

/** The key store's file in the data dir: apart from events.sqlite and the read models (docs/architecture.md). */
export const KEY_STORE_FILE = 'keys.sqlite';

/**
 * The data keys, wrapped under the configured master keys: in the NATS JetStream bucket FAAS_KEYS
 * when FAASBOX_NATS_URL is set (apis on several hosts share it, as they share the bus), else in
 * `<data dir>/keys.sqlite`. Either way every api that shares the keys needs the same
 * FAASBOX_MASTER_KEY: the development key is made per data dir, so outside production apis on
 * several hosts without it cannot unwrap each other's keys (UnknownMasterKeyError).
 * The NATS store has a connection of its own, with the bus's options, through the runtime's
 * transport (`connectNats`), closed by close().
 */
export async function openKeyStore(
  config: Config,
  openSqlite: OpenSqlite,
  connectNats: NatsConnect,
  // The api's entry resolves them first, before it opens anything (src/entry/start.ts).
  { current, previous }: MasterKeyBytes = resolveMasterKeys(config),
): Promise<KeyStore> {
  const keyring = await importMasterKeyring(current, previous);
  if (config.nats !== undefined) {
    const nc = await connectNats(natsConnectionOptions({ servers: config.nats.servers, auth: config.nats.auth, name: 'faasbox-keys' }));
    try {
      return await openNatsKvKeyStore(nc, keyring, { replicas: config.nats.replicas });
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }
  mkdirSync(config.dataDir, { recursive: true });
  const file = join(config.dataDir, KEY_STORE_FILE);
  const store = createSqliteKeyStore(openSqlite(file), keyring);
  // Wrapped keys are still keys to whoever also finds the master key; SQLite gives its journal the file's mode.
  chmodSync(file, 0o600);
  return store;
}
