import { createKeyStore } from '../../auth/data-key-store.ts';
import { importMasterKeyring, MASTER_KEY_BYTES, type MasterKeyring } from '../../auth/envelope.ts';
import type { KeyStore, WrappedDataKey, WrappedKeyStorage } from '../../ports/key-store.ts';

/** Wrapped keys in a Map, for tests. Several KeyStores over one of these behave as several apis over one store. */
export function createMemoryKeyStorage(): WrappedKeyStorage {
  const keys = new Map<string, WrappedDataKey | 'destroyed'>();
  return {
    read: async (userId) => keys.get(userId),
    async insertIfAbsent(userId, key) {
      const stored = keys.get(userId);
      if (stored !== undefined) return stored;
      keys.set(userId, { ...key });
      return key;
    },
    async replace(userId, expected, next) {
      const stored = keys.get(userId);
      if (stored === undefined || stored === 'destroyed' || stored.wrapped !== expected.wrapped) return false;
      keys.set(userId, { ...next });
      return true;
    },
    async wrappedUnderOthers(masterKeyId) {
      return [...keys]
        .filter((entry): entry is [string, WrappedDataKey] => entry[1] !== 'destroyed' && entry[1].masterKeyId !== masterKeyId)
        .map(([userId, key]) => ({ userId, key }));
    },
    async destroy(userId) {
      keys.set(userId, 'destroyed');
    },
    async close() {},
  };
}

export function createMemoryKeyStore(keyring: MasterKeyring, storage: WrappedKeyStorage = createMemoryKeyStorage()): KeyStore {
  return createKeyStore(storage, keyring);
}

/** A memory key store under a master key made for it and kept nowhere: for what keeps nothing (the in-process tests, the OpenAPI document). */
export async function createEphemeralKeyStore(): Promise<KeyStore> {
  return createMemoryKeyStore(await importMasterKeyring(crypto.getRandomValues(new Uint8Array(MASTER_KEY_BYTES)), []));
}
