import { DomainError } from '../domain/errors.ts';
import type { CryptoKey } from '../lib/crypto-key.ts';
import { KeyDestroyedError, type KeyStore, KeyStoreUnavailableError } from '../ports/key-store.ts';

/**
 * A user's data key for what is about to be stored under it, made on first use. A deleted user
 * has none to be made: their key was destroyed so that nothing of theirs outlives the deletion.
 */
export async function keyToSeal(keys: KeyStore, userId: string): Promise<CryptoKey> {
  try {
    return await keys.getOrCreate(userId);
  } catch (error) {
    if (error instanceof KeyDestroyedError) throw userGone();
    throw unavailableOr(error);
  }
}

/** A user's data key for what is stored under it; gone with the user. */
export async function keyToOpen(keys: KeyStore, userId: string): Promise<CryptoKey> {
  const key = await keys.get(userId).catch((error: unknown) => {
    throw unavailableOr(error);
  });
  if (key === null) throw userGone();
  return key;
}

/** Destroys the user's data key: what was encrypted under it is unreadable from now on, everywhere. */
export async function destroyKey(keys: KeyStore, userId: string): Promise<void> {
  await keys.destroy(userId).catch((error: unknown) => {
    throw unavailableOr(error);
  });
}

/** A key store that cannot answer now is the platform's passing fault (503), not the request's. */
const unavailableOr = (error: unknown) =>
  error instanceof KeyStoreUnavailableError ? new DomainError('KeyStoreUnavailable', 'the key store cannot be reached; try again shortly', 1) : error;

const userGone = () => new DomainError('UserNotFound', 'the user was deleted: what was encrypted for them cannot be read');
