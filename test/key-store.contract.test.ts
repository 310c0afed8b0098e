/**
 * The KeyStore contract (test/support/key-store-contract.ts) for every adapter under Node. To add
 * one, push an entry onto `adapters`. The SQLite adapter on Bun's and Deno's drivers:
 * key-store-runtimes.contract.test.ts. Then the store as an entry opens it from the config.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect as connectNats } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryKeyStorage, openNatsKvKeyStorage } from '../src/adapters/key-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import { decryptValue, encryptValue } from '../src/auth/envelope.ts';
import { loadConfig } from '../src/config.ts';
import { KEY_STORE_FILE, openKeyStore } from '../src/entry/open-key-store.ts';
import type { WrappedKeyStorage } from '../src/ports/key-store.ts';
import { defineKeyStoreContract, type KeyStoreAdapterUnderTest, sqliteKeyStoreUnderTest } from './support/key-store-contract.ts';
import { startNatsServer } from './support/nats-server.ts';
import { LOOPBACK, acceptsOnLoopback, freePort, killChild, startServiceProcess } from './support/service-process.ts';

/**
 * The NATS KV adapter over a nats-server of its own per test, whose store dir the test knows
 * (test/support/nats-server.ts keeps its own to itself): `filesOnDisk` is every file in it, so
 * the on-disk test looks in the stream's block files, indexes and consumer state alike.
 */
const natsKvKeyStoreUnderTest: KeyStoreAdapterUnderTest = {
  name: 'nats-kv',
  onDisk: true,
  async open() {
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-keys-nats-'));
    const port = await freePort();
    const server = await startServiceProcess('nats-server', ['-js', '-a', LOOPBACK, '-p', String(port), '-sd', storeDir], () =>
      acceptsOnLoopback(port),
    ).catch((error: unknown) => {
      fs.rmSync(storeDir, { recursive: true, force: true });
      throw error;
    });
    return {
      // Each connection of its own, as each api has.
      connect: () =>
        whenOpen(
          connectNats({ servers: `nats://${LOOPBACK}:${port}` }).then((nc) =>
            openNatsKvKeyStorage(nc, { replicas: 1 }).catch(async (error: unknown) => {
              await nc.close();
              throw error;
            }),
          ),
        ),
      filesOnDisk: () => filesUnder(storeDir),
      async dispose() {
        await killChild(server);
        fs.rmSync(storeDir, { recursive: true, force: true });
      },
    };
  },
};

/** The contract connects synchronously; opening the NATS storage is not: each call waits for it. */
function whenOpen(opening: Promise<WrappedKeyStorage>): WrappedKeyStorage {
  // A failure to open is the first call's to report.
  opening.catch(() => undefined);
  return {
    read: async (userId) => (await opening).read(userId),
    insertIfAbsent: async (userId, key) => (await opening).insertIfAbsent(userId, key),
    replace: async (userId, expected, next) => (await opening).replace(userId, expected, next),
    wrappedUnderOthers: async (masterKeyId) => (await opening).wrappedUnderOthers(masterKeyId),
    destroy: async (userId) => (await opening).destroy(userId),
    close: async () => (await opening).close(),
  };
}

function filesUnder(dir: string): { name: string; bytes: Uint8Array }[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false)
    .map((file) => ({ name: path.relative(dir, file), bytes: new Uint8Array(fs.readFileSync(file)) }));
}

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
  natsKvKeyStoreUnderTest,
];

for (const adapter of adapters) defineKeyStoreContract(adapter);

const opening = suite('openKeyStore: the key store an api opens from its config');

opening('keys.sqlite in the data dir, under the development master key: a restart reads the same keys', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-open-keys-'));
  try {
    const config = loadConfig({ FAASBOX_DATA_DIR: dataDir });
    const binding = { userId: 'user-ada', purpose: 'secret:DB_PASSWORD' };
    const first = await openKeyStore(config, openBetterSqlite3, connectNats);
    const encrypted = await encryptValue('hunter2', await first.getOrCreate(binding.userId), binding);
    await first.close();
    assert.is(fs.statSync(path.join(dataDir, KEY_STORE_FILE)).mode & 0o777, 0o600);
    assert.ok(fs.existsSync(path.join(dataDir, 'master-key')));
    const again = await openKeyStore(config, openBetterSqlite3, connectNats);
    assert.is(await decryptValue(encrypted, (await again.get(binding.userId))!, binding), 'hunter2');
    await again.close();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

opening('FAASBOX_NATS_URL set: the keys are in NATS (credentials from the URL), shared by apis with other data dirs; no keys.sqlite', async () => {
  const auth = { user: 'faasbox', pass: 'key-store-secret' };
  const nats = await startNatsServer({ auth });
  const dataDirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-open-keys-')), fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-open-keys-'))];
  try {
    const url = nats.url.replace('nats://', `nats://${auth.user}:${auth.pass}@`);
    // Apis on two hosts: a data dir each, one master key.
    const masterKey = randomBytes(32).toString('base64');
    const [one, two] = dataDirs.map((dataDir) => loadConfig({ FAASBOX_DATA_DIR: dataDir, FAASBOX_NATS_URL: url, FAASBOX_MASTER_KEY: masterKey }));
    const binding = { userId: 'user-ada', purpose: 'secret:DB_PASSWORD' };
    const first = await openKeyStore(one!, openBetterSqlite3, connectNats);
    const encrypted = await encryptValue('hunter2', await first.getOrCreate(binding.userId), binding);
    await first.close();
    const other = await openKeyStore(two!, openBetterSqlite3, connectNats);
    assert.is(await decryptValue(encrypted, (await other.get(binding.userId))!, binding), 'hunter2');
    await other.destroy(binding.userId);
    await other.close();
    const again = await openKeyStore(one!, openBetterSqlite3, connectNats);
    assert.is(await again.get(binding.userId), null, 'destroyed for every api');
    await again.close();
    for (const dataDir of dataDirs) assert.not.ok(fs.existsSync(path.join(dataDir, KEY_STORE_FILE)));
  } finally {
    await nats.stop();
    for (const dataDir of dataDirs) fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

opening('FAASBOX_NATS_URL with wrong credentials: openKeyStore fails, it does not fall back to keys.sqlite', async () => {
  const nats = await startNatsServer({ auth: { user: 'faasbox', pass: 'right' } });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-open-keys-'));
  try {
    const config = loadConfig({ FAASBOX_DATA_DIR: dataDir, FAASBOX_NATS_URL: nats.url.replace('nats://', 'nats://faasbox:wrong@') });
    let failed = false;
    await openKeyStore(config, openBetterSqlite3, connectNats).then(
      (store) => store.close(),
      () => (failed = true),
    );
    assert.ok(failed, 'refused');
    assert.not.ok(fs.existsSync(path.join(dataDir, KEY_STORE_FILE)));
  } finally {
    await nats.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

opening.run();
