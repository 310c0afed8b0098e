/**
 * The KeyStore contract (test/support/key-store-contract.ts) for every adapter under Node. To add
 * one, push an entry onto `adapters`. The SQLite adapter on Bun's and Deno's drivers:
 * key-store-runtimes.contract.test.ts. Then the store as an entry opens it from the config.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryKeyStorage } from '../src/adapters/key-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import { decryptValue, encryptValue } from '../src/auth/envelope.ts';
import { loadConfig } from '../src/config.ts';
import { KEY_STORE_FILE, openKeyStore } from '../src/entry/open-key-store.ts';
import { defineKeyStoreContract, type KeyStoreAdapterUnderTest, sqliteKeyStoreUnderTest } from './support/key-store-contract.ts';

const adapters: KeyStoreAdapterUnderTest[] = [
  {
    name: 'memory',
    onDisk: false,
    async open() {
      // One Map behind every connection: what two apis over one store see.
      const storage = createMemoryKeyStorage();
      return { connect: () => storage, dispose: async () => {} };
    },
  },
  sqliteKeyStoreUnderTest('sqlite', openBetterSqlite3),
];

for (const adapter of adapters) defineKeyStoreContract(adapter);

const opening = suite('openKeyStore: the key store an api opens from its config');

opening('keys.sqlite in the data dir, under the development master key: a restart reads the same keys', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-open-keys-'));
  try {
    const config = loadConfig({ FAASBOX_DATA_DIR: dataDir });
    const binding = { userId: 'user-ada', purpose: 'secret:DB_PASSWORD' };
    const first = await openKeyStore(config, openBetterSqlite3);
    const encrypted = await encryptValue('hunter2', await first.getOrCreate(binding.userId), binding);
    await first.close();
    assert.is(fs.statSync(path.join(dataDir, KEY_STORE_FILE)).mode & 0o777, 0o600);
    assert.ok(fs.existsSync(path.join(dataDir, 'master-key')));
    const again = await openKeyStore(config, openBetterSqlite3);
    assert.is(await decryptValue(encrypted, (await again.get(binding.userId))!, binding), 'hunter2');
    await again.close();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

opening.run();
