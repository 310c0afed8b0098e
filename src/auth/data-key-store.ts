import { KeyDestroyedError, type KeyStore, type WrappedDataKey, type WrappedKeyStorage } from '../ports/key-store.ts';
import { type MasterKeyring, newDataKey, rewrapDataKey, unwrapDataKey, UnknownMasterKeyError } from './envelope.ts';

/**
 * The KeyStore over any storage of wrapped keys: the cryptography and the rules (one key per
 * user, a destroyed key stays destroyed) are here once, and an adapter only stores.
 * The keyring is the store's for good: rewrapAll re-wraps under the same current master key
 * that getOrCreate wraps new keys under, so the two cannot disagree.
 */
export function createKeyStore(storage: WrappedKeyStorage, keyring: MasterKeyring): KeyStore {
  return {
    async getOrCreate(userId) {
      const stored = await storage.read(userId);
      if (stored === 'destroyed') throw new KeyDestroyedError(userId);
      if (stored !== undefined) return unwrapDataKey(stored, userId, keyring);
      const created = await newDataKey(userId, keyring.current);
      const kept = await storage.insertIfAbsent(userId, created.wrapped);
      if (kept === 'destroyed') throw new KeyDestroyedError(userId);
      // Another caller (or another process) may have stored its key first: everybody uses that one.
      return sameWrapping(kept, created.wrapped) ? created.dataKey : unwrapDataKey(kept, userId, keyring);
    },

    async get(userId) {
      const stored = await storage.read(userId);
      return stored === undefined || stored === 'destroyed' ? null : unwrapDataKey(stored, userId, keyring);
    },

    destroy: (userId) => storage.destroy(userId),

    async rewrapAll() {
      const stale = await storage.wrappedUnderOthers(keyring.current.id);
      const known = new Set(keyring.previous.map((key) => key.id));
      const unknown = new Set(stale.map(({ key }) => key.masterKeyId).filter((id) => !known.has(id)));
      // Checked first, so that a missing previous key stops the rotation before it changes anything.
      if (unknown.size > 0) throw new UnknownMasterKeyError([...unknown]);
      let rewrapped = 0;
      for (const { userId, key } of stale) {
        if (await storage.replace(userId, key, await rewrapDataKey(key, userId, keyring))) rewrapped++;
      }
      return rewrapped;
    },

    close: () => storage.close(),
  };
}

const sameWrapping = (a: WrappedDataKey, b: WrappedDataKey) => a.masterKeyId === b.masterKeyId && a.wrapped === b.wrapped;
