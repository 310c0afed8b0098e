/**
 * The KeyStore contract: what every adapter's storage promises, under the one KeyStore
 * (src/auth/data-key-store.ts). test/key-store.contract runs it for each adapter under Node;
 * test/support/runtimes/ run it for the SQLite adapter on Bun's and Deno's own drivers.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createKeyStore } from '../../src/auth/data-key-store.ts';
import { decryptValue, encryptValue, importMasterKeyring, UndecryptableError, UnknownMasterKeyError } from '../../src/auth/envelope.ts';
import { createSqliteKeyStorage } from '../../src/adapters/key-store/index.ts';
import type { CryptoKey } from '../../src/lib/crypto-key.ts';
import { KeyDestroyedError, type KeyStore, type WrappedKeyStorage } from '../../src/ports/key-store.ts';
import type { SqliteDatabase } from '../../src/ports/sqlite.ts';
import { rawDataKey } from './envelope-format.ts';

export type KeyStoreAdapterUnderTest = {
  name: string;
  /** Whether it keeps files (and gives them as `filesOnDisk`): the tests that look for a key on disk run only then. */
  onDisk: boolean;
  /** Empty storage; `connect` opens it once more (another connection, or another api's view of it). */
  open(): Promise<{
    connect(): WrappedKeyStorage;
    /** The bytes of every file the storage keeps, for the tests that look for a key on disk. */
    filesOnDisk?(): { name: string; bytes: Uint8Array }[];
    dispose(): Promise<void>;
  }>;
};

/** The SQLite adapter over a fresh keys.sqlite in a temporary directory, opened with `openSqlite`. */
export function sqliteKeyStoreUnderTest(name: string, openSqlite: (path: string) => SqliteDatabase): KeyStoreAdapterUnderTest {
  return {
    name,
    onDisk: true,
    async open() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-keys-'));
      const file = path.join(dir, 'keys.sqlite');
      return {
        connect: () => createSqliteKeyStorage(openSqlite(file)),
        // The rollback journal (and a WAL, were there one) too: a key must be in none of them.
        filesOnDisk: () =>
          fs
            .readdirSync(dir)
            .filter((entry) => entry.startsWith('keys.sqlite'))
            .map((entry) => ({ name: entry, bytes: new Uint8Array(fs.readFileSync(path.join(dir, entry))) })),
        async dispose() {
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

type Given = {
  /** A KeyStore over the test's storage, on a connection of its own, with `keyring`. */
  open(keyring: { current: Uint8Array<ArrayBuffer>; previous?: Uint8Array<ArrayBuffer>[] }): Promise<KeyStore>;
  /** The storage on a connection of its own. */
  connect(): WrappedKeyStorage;
  filesOnDisk: (() => { name: string; bytes: Uint8Array }[]) | undefined;
  user(): string;
};

const randomKey = () => crypto.getRandomValues(new Uint8Array(32));
const purpose = 'secret:DB_PASSWORD';

async function failsWith(promise: Promise<unknown>, type: new (...args: never[]) => Error): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, type);
    return error as Error;
  }
  throw new assert.Assertion({ message: `expected ${type.name}, it succeeded`, operator: 'failsWith', expects: type, actual: undefined });
}

/** Whether every key of `keys` is one and the same: each opens what the first encrypted, and the reverse. */
async function assertOneKey(userId: string, keys: CryptoKey[]) {
  const [first, ...others] = keys;
  const sealed = await encryptValue('hunter2', first!, { userId, purpose });
  for (const [i, key] of others.entries()) {
    assert.is(await decryptValue(sealed, key, { userId, purpose }), 'hunter2', `key ${i + 1}`);
    assert.is(await decryptValue(await encryptValue('back', key, { userId, purpose }), first!, { userId, purpose }), 'back');
  }
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Defines and runs (uvu's `run()`) the whole contract for one adapter. */
export function defineKeyStoreContract(adapter: KeyStoreAdapterUnderTest) {
  const test = suite(`key-store contract [${adapter.name}]`);

  // Fresh storage per test, opened and disposed inside the test: uvu swallows hook errors.
  const it = (name: string, body: (given: Given) => Promise<void>) =>
    test(name, async () => {
      const opened = await adapter.open();
      const stores: KeyStore[] = [];
      try {
        await body({
          async open({ current, previous = [] }) {
            const store = createKeyStore(opened.connect(), await importMasterKeyring(current, previous));
            stores.push(store);
            return store;
          },
          connect: () => opened.connect(),
          filesOnDisk: opened.filesOnDisk,
          user: () => `user-${randomUUID()}`,
        });
      } finally {
        for (const store of stores) await store.close();
        await opened.dispose();
      }
    });

  it('getOrCreate makes a key once: later calls and get() answer the same key; a user without one gets null', async ({ open, user }) => {
    const store = await open({ current: randomKey() });
    const ada = user();
    assert.is(await store.get(ada), null);
    const first = await store.getOrCreate(ada);
    await assertOneKey(ada, [first, await store.getOrCreate(ada), (await store.get(ada))!]);
    assert.is(await store.get(user()), null);
  });

  it('each user has a key of their own', async ({ open, user }) => {
    const store = await open({ current: randomKey() });
    const [ada, bob] = [user(), user()];
    const sealed = await encryptValue('hunter2', await store.getOrCreate(ada), { userId: ada, purpose });
    await failsWith(decryptValue(sealed, await store.getOrCreate(bob), { userId: ada, purpose }), UndecryptableError);
  });

  it('16 getOrCreate at once end with one key, which all of them answer', async ({ open, user }) => {
    const store = await open({ current: randomKey() });
    const ada = user();
    const keys = await Promise.all(Array.from({ length: 16 }, () => store.getOrCreate(ada)));
    await assertOneKey(ada, [...keys, (await store.get(ada))!]);
  });

  it('two connections (two apis) racing 8 getOrCreate each end with one key', async ({ open, user }) => {
    const master = randomKey();
    const [one, two] = [await open({ current: master }), await open({ current: master })];
    const ada = user();
    const keys = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? one : two).getOrCreate(ada)));
    await assertOneKey(ada, [...keys, (await one.get(ada))!, (await two.get(ada))!]);
  });

  it('destroy: get answers null and getOrCreate throws KeyDestroyedError, on every connection, for good', async ({ open, user }) => {
    const master = randomKey();
    const [store, other] = [await open({ current: master }), await open({ current: master })];
    const [ada, bob] = [user(), user()];
    await store.getOrCreate(ada);
    const bobs = await store.getOrCreate(bob);
    await store.destroy(ada);
    for (const view of [store, other, await open({ current: master })]) {
      assert.is(await view.get(ada), null);
      const error = await failsWith(view.getOrCreate(ada), KeyDestroyedError);
      assert.is((error as KeyDestroyedError).userId, ada);
    }
    await assertOneKey(bob, [bobs, (await other.get(bob))!]);
  });

  it('destroy is idempotent, and holds for a user who never had a key: none is made for them later', async ({ open, user }) => {
    const store = await open({ current: randomKey() });
    const [ada, never] = [user(), user()];
    await store.getOrCreate(ada);
    await store.destroy(ada);
    await store.destroy(ada);
    await store.destroy(never);
    for (const userId of [ada, never]) {
      assert.is(await store.get(userId), null);
      await failsWith(store.getOrCreate(userId), KeyDestroyedError);
    }
  });

  it('destroy racing getOrCreate: afterwards the key is gone, whichever came first', async ({ open, user }) => {
    const master = randomKey();
    const [one, two] = [await open({ current: master }), await open({ current: master })];
    const ada = user();
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? one : two).getOrCreate(ada)),
      two.destroy(ada),
      ...Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? two : one).getOrCreate(ada)),
    ]);
    for (const outcome of outcomes) if (outcome.status === 'rejected') assert.instance(outcome.reason, KeyDestroyedError);
    assert.is(await one.get(ada), null);
    assert.is(await two.get(ada), null);
    await failsWith(one.getOrCreate(ada), KeyDestroyedError);
  });

  it('the storage never brings a destroyed key back: an insert or a replace after destroy is refused', async ({ open, connect, user }) => {
    const store = await open({ current: randomKey() });
    const storage = connect();
    try {
      const ada = user();
      await store.getOrCreate(ada);
      const wrapped = await storage.read(ada);
      assert.ok(wrapped !== undefined && wrapped !== 'destroyed');
      await store.destroy(ada);
      assert.is(await storage.read(ada), 'destroyed');
      assert.not.ok(await storage.replace(ada, wrapped, { ...wrapped, masterKeyId: 'another' }));
      assert.is(await storage.insertIfAbsent(ada, wrapped), 'destroyed');
      assert.is(await storage.read(ada), 'destroyed');
      assert.equal(await storage.wrappedUnderOthers('another'), []);
    } finally {
      await storage.close();
    }
  });

  it('rotation: previous master keys still unwrap; rewrapAll moves every live key under the current one, which alone then opens them', async ({
    open,
    user,
  }) => {
    const [old, current] = [randomKey(), randomKey()];
    const before = await open({ current: old });
    const [ada, bob, gone] = [user(), user(), user()];
    const sealed = new Map<string, string>();
    for (const userId of [ada, bob, gone]) {
      sealed.set(userId, await encryptValue(`secret of ${userId}`, await before.getOrCreate(userId), { userId, purpose }));
    }
    await before.destroy(gone);

    const rotating = await open({ current, previous: [old] });
    assert.is(await decryptValue(sealed.get(ada)!, (await rotating.get(ada))!, { userId: ada, purpose }), `secret of ${ada}`);
    assert.is(await rotating.rewrapAll(), 2);
    assert.is(await rotating.rewrapAll(), 0, 'nothing left under the old key');

    const after = await open({ current });
    for (const userId of [ada, bob]) {
      assert.is(await decryptValue(sealed.get(userId)!, (await after.get(userId))!, { userId, purpose }), `secret of ${userId}`);
    }
    assert.is(await after.get(gone), null, 'a destroyed key stays destroyed');
    await failsWith(after.getOrCreate(gone), KeyDestroyedError);

    const oldAlone = await open({ current: old });
    const error = await failsWith(oldAlone.get(ada), UnknownMasterKeyError);
    assert.match(error.message, /FAASBOX_MASTER_KEY_PREVIOUS/);
  });

  it('rewrapAll with a key under a master key it does not know changes nothing and names that key', async ({ open, user }) => {
    const [first, second, third] = [randomKey(), randomKey(), randomKey()];
    const [ada, bob] = [user(), user()];
    await (await open({ current: first })).getOrCreate(ada);
    await (await open({ current: second })).getOrCreate(bob);
    // Knows `second` but not `first`: bob's key could move, ada's could not, so neither does.
    const partial = await open({ current: third, previous: [second] });
    const error = await failsWith(partial.rewrapAll(), UnknownMasterKeyError);
    assert.is((error as UnknownMasterKeyError).masterKeyIds.length, 1);
    assert.ok(await (await open({ current: second })).get(bob), 'bob is still under the second key');
    const complete = await open({ current: third, previous: [first, second] });
    assert.is(await complete.rewrapAll(), 2);
  });

  const itOnDisk = adapter.onDisk ? it : () => {};

  itOnDisk(
    'after destroy, no file of the store holds the data key, raw or wrapped, in any encoding; other users’ keys stay',
    async ({ open, connect, filesOnDisk, user }) => {
      const master = randomKey();
      const store = await open({ current: master });
      const storage = connect();
      const [ada, bob] = [user(), user()];
      try {
        const adaKey = await store.getOrCreate(ada);
        await store.getOrCreate(bob);
        const [adaWrapped, bobWrapped] = [await storage.read(ada), await storage.read(bob)];
        assert.ok(adaWrapped !== undefined && adaWrapped !== 'destroyed' && bobWrapped !== undefined && bobWrapped !== 'destroyed');
        const raw = await rawDataKey(master, ada, adaWrapped.wrapped);
        // The raw bytes found by hand are ada's key: they open what the store's key sealed.
        const check = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['decrypt']);
        assert.is(await decryptValue(await encryptValue('hunter2', adaKey, { userId: ada, purpose }), check, { userId: ada, purpose }), 'hunter2');

        const text = (value: string) => new TextEncoder().encode(value);
        const rawForms = [
          raw,
          text(Buffer.from(raw).toString('base64')),
          text(Buffer.from(raw).toString('base64url')),
          text(Buffer.from(raw).toString('hex')),
        ];
        const adaForms = [...rawForms, text(adaWrapped.wrapped), Buffer.from(adaWrapped.wrapped.slice('fbxk1.'.length), 'base64url')];
        const found = (forms: Uint8Array[]) =>
          filesOnDisk!().flatMap(({ name, bytes }) => forms.filter((form) => indexOfBytes(bytes, form) >= 0).map(() => name));

        assert.equal(found(rawForms), [], 'a raw key is never stored');
        assert.ok(found([text(adaWrapped.wrapped)]).length > 0, 'control: the wrapped key is on disk before destroy');
        await store.destroy(ada);
        assert.equal(found(adaForms), [], 'ada’s key after destroy');
        assert.ok(found([text(bobWrapped.wrapped)]).length > 0, 'bob’s key is still there');

        // Rotation leaves no copy of a key's old wrapping behind either.
        const rotating = await open({ current: randomKey(), previous: [master] });
        assert.is(await rotating.rewrapAll(), 1);
        assert.equal(found([text(bobWrapped.wrapped)]), [], 'bob’s old wrapping after rotation');
      } finally {
        await storage.close();
      }
    },
  );

  test.run();
}
