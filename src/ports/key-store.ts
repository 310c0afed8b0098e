/**
 * The key store: each user's data key, kept outside the event log so that destroying it makes
 * what was encrypted under it unreadable everywhere the log goes (backups, rebuilds, replicas):
 * crypto-shredding (issue 19). Keys are stored wrapped by the operator's master key
 * (src/auth/envelope.ts); `KeyStore` is what callers use, `WrappedKeyStorage` what an adapter
 * provides (src/adapters/key-store/), and src/auth/data-key-store.ts joins the two, so every
 * adapter shares one implementation of the cryptography and of the rules below.
 */
import type { CryptoKey } from '../lib/crypto-key.ts';

/** What a caller uses. Data keys are AES-256-GCM CryptoKeys that cannot be exported. */
export interface KeyStore {
  /**
   * The user's data key, made and stored if they have none. Concurrent calls, in one process or
   * in several sharing the storage, all get the one key stored first. Throws KeyDestroyedError
   * for a user whose key was destroyed: a new key would let new data outlive their deletion.
   */
  getOrCreate(userId: string): Promise<CryptoKey>;
  /** The user's data key; null if they never had one or it was destroyed. */
  get(userId: string): Promise<CryptoKey | null>;
  /** Destroys the user's data key for good; idempotent, and also for a user who never had one. */
  destroy(userId: string): Promise<void>;
  /**
   * Wraps again under the current master key every data key wrapped under a previous one, and
   * answers how many it re-wrapped (a key destroyed meanwhile is not counted, and stays
   * destroyed). Events are not touched: the data keys themselves do not change. Throws
   * UnknownMasterKeyError, before changing anything, if a key was wrapped under a master key
   * that is neither the current nor a previous one.
   */
  rewrapAll(): Promise<number>;
  close(): Promise<void>;
}

/** A data key as a master key wrapped it: the only form in which a key store keeps it. */
export type WrappedDataKey = {
  /** Which master key wrapped it (masterKeyId in src/auth/envelope.ts). */
  masterKeyId: string;
  /** The wrapped key's text (src/auth/envelope.ts says its format). */
  wrapped: string;
};

/**
 * What an adapter stores: wrapped keys by user, and which users' keys were destroyed. Each
 * operation is atomic on its own; the rules of KeyStore rest on that.
 */
export interface WrappedKeyStorage {
  /** The user's wrapped key, `destroyed` once destroyed, undefined if they never had one. */
  read(userId: string): Promise<WrappedDataKey | 'destroyed' | undefined>;
  /**
   * Stores `key` unless the user already has a key or had one destroyed, in one step (two
   * callers at once: one stores), and answers what the user has afterwards.
   */
  insertIfAbsent(userId: string, key: WrappedDataKey): Promise<WrappedDataKey | 'destroyed'>;
  /**
   * Replaces the user's wrapped key if it is still `expected`; false if not (it was destroyed,
   * or replaced by someone else). A destroyed key is never brought back.
   */
  replace(userId: string, expected: WrappedDataKey, next: WrappedDataKey): Promise<boolean>;
  /** Every stored key that `masterKeyId` did not wrap. */
  wrappedUnderOthers(masterKeyId: string): Promise<{ userId: string; key: WrappedDataKey }[]>;
  /**
   * Removes the user's wrapped key so that its bytes are in no file the storage keeps, and
   * remembers that it was destroyed; idempotent.
   */
  destroy(userId: string): Promise<void>;
  close(): Promise<void>;
}

/** The user's data key was destroyed (the user was deleted): their encrypted data is gone for good. */
export class KeyDestroyedError extends Error {
  override readonly name = 'KeyDestroyedError';
  constructor(readonly userId: string) {
    super(`the data key of user ${userId} was destroyed: what was encrypted under it cannot be read, and nothing new is encrypted for them`);
  }
}

/** The storage could not be reached (its server is away or electing a leader): try again shortly. */
export class KeyStoreUnavailableError extends Error {
  override readonly name = 'KeyStoreUnavailableError';
}
