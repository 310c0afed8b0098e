import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createSqliteKeyStore } from '../adapters/key-store/index.ts';
import { importMasterKeyring } from '../auth/envelope.ts';
import type { Config } from '../config-type.ts';
import type { KeyStore } from '../ports/key-store.ts';
import { resolveMasterKeys } from './dev-master-key.ts';
import type { OpenSqlite } from './open-stores.ts';

/** The key store's file in the data dir: apart from events.sqlite and the read models (docs/architecture.md). */
export const KEY_STORE_FILE = 'keys.sqlite';

/** The data keys in `<data dir>/keys.sqlite`, wrapped under the configured master keys. */
export async function openKeyStore(config: Config, openSqlite: OpenSqlite): Promise<KeyStore> {
  const { current, previous } = resolveMasterKeys(config);
  const keyring = await importMasterKeyring(current, previous);
  mkdirSync(config.dataDir, { recursive: true });
  const file = join(config.dataDir, KEY_STORE_FILE);
  const store = createSqliteKeyStore(openSqlite(file), keyring);
  // Wrapped keys are still keys to whoever also finds the master key; SQLite gives its journal the file's mode.
  chmodSync(file, 0o600);
  return store;
}
