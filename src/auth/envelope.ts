/**
 * Envelope encryption (issue 19): a user's values are encrypted under a data key of their own,
 * and the data key is kept only wrapped by the operator's master key. Destroying the wrapped data
 * key destroys the values (crypto-shredding); changing the master key re-wraps the data keys and
 * leaves the values as they are. WebCrypto only: the same on Node, Bun and Deno.
 *
 * The formats are stored for years, so they are fixed here; another format gets another prefix.
 * - Master key: 32 bytes. It encrypts nothing itself: HKDF-SHA256 (empty salt: the input is
 *   already uniformly random) derives from it the wrapping key (info `faasbox data key wrapping
 *   v1`) and its id, 8 bytes as 16 hex digits (info `faasbox master key id`), so the id, stored
 *   beside every wrapped key, tells nothing of the key, and the master key can serve other
 *   purposes later under other info strings.
 * - Wrapped data key: `fbxk1.` + base64url(IV ‖ AES-256-GCM ciphertext of the 32 key bytes ‖
 *   tag), 12-byte random IV, 16-byte tag, additional data the JSON text of `["fbxk1", userId]`.
 *   AES-GCM rather than AES-KW (RFC 3394), which takes no additional data: with the user's id
 *   bound in, a wrapped key copied into another user's row does not unwrap there. A random IV
 *   per wrap is safe far beyond the wraps a master key makes (one per user and rotation; the
 *   bound is 2^32).
 * - Encrypted value: `fbx1.` + base64url(IV ‖ ciphertext ‖ tag), the same sizes, additional data
 *   the JSON text of `["fbx1", userId, purpose]`: a value moved to another user, or to another
 *   field of the same user (purpose names it, e.g. `secret:DB_PASSWORD`), does not decrypt. The
 *   length of a value shows through (16 + 12 bytes more, then base64url).
 */
import { fromBase64Url, toBase64Url } from '../lib/base64url.ts';
import type { CryptoKey } from '../lib/crypto-key.ts';
import { toHex } from '../lib/hex.ts';
import type { WrappedDataKey } from '../ports/key-store.ts';

export const MASTER_KEY_BYTES = 32;
const DATA_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const WRAPPED_KEY_PREFIX = 'fbxk1.';
export const ENCRYPTED_VALUE_PREFIX = 'fbx1.';

const AES_GCM = { name: 'AES-GCM', length: 256 } as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A master key ready to wrap and unwrap; its bytes are not kept and cannot be exported. */
export type MasterKey = { readonly id: string; readonly wrappingKey: CryptoKey };

/** The master key new keys are wrapped under, and older ones that still unwrap (rotation). */
export type MasterKeyring = { readonly current: MasterKey; readonly previous: readonly MasterKey[] };

/** Whose value it is and what it is: bound into its encryption, so it opens only as such. */
export type ValueBinding = { userId: string; purpose: string };

/**
 * It cannot be decrypted with what was given: another key (or a destroyed one, replaced), another
 * owner or purpose, or altered bytes. Never more precise: AES-GCM cannot tell these apart.
 */
export class UndecryptableError extends Error {
  override readonly name = 'UndecryptableError';
}

/** A data key was wrapped under a master key that is neither FAASBOX_MASTER_KEY nor in FAASBOX_MASTER_KEY_PREVIOUS. */
export class UnknownMasterKeyError extends Error {
  override readonly name = 'UnknownMasterKeyError';
  constructor(readonly masterKeyIds: readonly string[]) {
    super(
      `data keys wrapped under master key ${masterKeyIds.join(', ')}, which is neither FAASBOX_MASTER_KEY nor in FAASBOX_MASTER_KEY_PREVIOUS: add that key to FAASBOX_MASTER_KEY_PREVIOUS`,
    );
  }
}

export async function importMasterKey(bytes: Uint8Array<ArrayBuffer>): Promise<MasterKey> {
  if (bytes.length !== MASTER_KEY_BYTES) throw new RangeError(`a master key is ${MASTER_KEY_BYTES} bytes`);
  const root = await crypto.subtle.importKey('raw', bytes, 'HKDF', false, ['deriveBits', 'deriveKey']);
  const hkdf = (info: string) => ({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: encoder.encode(info) });
  const id = toHex(new Uint8Array(await crypto.subtle.deriveBits(hkdf('faasbox master key id'), root, 64)));
  const wrappingKey = await crypto.subtle.deriveKey(hkdf('faasbox data key wrapping v1'), root, AES_GCM, false, ['encrypt', 'decrypt']);
  return { id, wrappingKey };
}

/** The keyring of `current` and `previous`; a previous key given twice, or equal to the current one, counts once. */
export async function importMasterKeyring(
  current: Uint8Array<ArrayBuffer>,
  previous: readonly Uint8Array<ArrayBuffer>[],
): Promise<MasterKeyring> {
  const currentKey = await importMasterKey(current);
  const previousKeys = new Map<string, MasterKey>();
  for (const bytes of previous) {
    const key = await importMasterKey(bytes);
    if (key.id !== currentKey.id) previousKeys.set(key.id, key);
  }
  return { current: currentKey, previous: [...previousKeys.values()] };
}

/** A new random data key for `userId`, and the same key wrapped under `masterKey` for storing. */
export async function newDataKey(userId: string, masterKey: MasterKey): Promise<{ dataKey: CryptoKey; wrapped: WrappedDataKey }> {
  const bytes = crypto.getRandomValues(new Uint8Array(DATA_KEY_BYTES));
  try {
    const wrapped = await wrapKeyBytes(bytes, userId, masterKey);
    const dataKey = await crypto.subtle.importKey('raw', bytes, AES_GCM, false, ['encrypt', 'decrypt']);
    return { dataKey, wrapped };
  } finally {
    bytes.fill(0);
  }
}

/**
 * The data key `wrapped` holds, under whichever master key of `keyring` wrapped it.
 * UnknownMasterKeyError: none of them did; UndecryptableError: it is not `userId`'s, or altered.
 */
export async function unwrapDataKey(wrapped: WrappedDataKey, userId: string, keyring: MasterKeyring): Promise<CryptoKey> {
  const bytes = await unwrapKeyBytes(wrapped, userId, keyring);
  try {
    return await crypto.subtle.importKey('raw', bytes, AES_GCM, false, ['encrypt', 'decrypt']);
  } finally {
    bytes.fill(0);
  }
}

/** `wrapped` wrapped again under the keyring's current master key: the same data key, a new wrapping. */
export async function rewrapDataKey(wrapped: WrappedDataKey, userId: string, keyring: MasterKeyring): Promise<WrappedDataKey> {
  const bytes = await unwrapKeyBytes(wrapped, userId, keyring);
  try {
    return await wrapKeyBytes(bytes, userId, keyring.current);
  } finally {
    bytes.fill(0);
  }
}

/** `plaintext` encrypted under `dataKey` for `binding`, as text (`fbx1.…`); a fresh IV each time. */
export async function encryptValue(plaintext: string, dataKey: CryptoKey, binding: ValueBinding): Promise<string> {
  return ENCRYPTED_VALUE_PREFIX + toBase64Url(await seal(dataKey, encoder.encode(plaintext), valueContext(binding)));
}

/** The plaintext of `encrypted`; UndecryptableError if it does not open with `dataKey` for `binding`. */
export async function decryptValue(encrypted: string, dataKey: CryptoKey, binding: ValueBinding): Promise<string> {
  const bytes = encrypted.startsWith(ENCRYPTED_VALUE_PREFIX) ? fromBase64Url(encrypted.slice(ENCRYPTED_VALUE_PREFIX.length)) : null;
  if (bytes === null || bytes.length < IV_BYTES + TAG_BYTES) throw new UndecryptableError('not an encrypted value of this version');
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, IV_BYTES), additionalData: valueContext(binding) },
      dataKey,
      bytes.subarray(IV_BYTES),
    );
    return decoder.decode(plaintext);
  } catch {
    throw new UndecryptableError(
      `a value of user ${binding.userId} (${binding.purpose}) does not decrypt: another or a destroyed key, another owner or purpose, or altered`,
    );
  }
}

async function wrapKeyBytes(bytes: Uint8Array<ArrayBuffer>, userId: string, masterKey: MasterKey): Promise<WrappedDataKey> {
  const sealed = await seal(masterKey.wrappingKey, bytes, wrappedKeyContext(userId));
  return { masterKeyId: masterKey.id, wrapped: WRAPPED_KEY_PREFIX + toBase64Url(sealed) };
}

async function seal(key: CryptoKey, plaintext: Uint8Array<ArrayBuffer>, additionalData: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData }, key, plaintext));
  const sealed = new Uint8Array(IV_BYTES + ciphertext.length);
  sealed.set(iv);
  sealed.set(ciphertext, IV_BYTES);
  return sealed;
}

// Decrypt, not subtle.unwrapKey: the same bytes, and Deno's types do not take AES-GCM for unwrapKey.
async function unwrapKeyBytes(wrapped: WrappedDataKey, userId: string, keyring: MasterKeyring): Promise<Uint8Array<ArrayBuffer>> {
  const masterKey = masterKeyOf(wrapped, keyring);
  const { iv, body } = splitWrapped(wrapped, userId, masterKey);
  try {
    const additionalData = wrappedKeyContext(userId);
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData }, masterKey.wrappingKey, body));
  } catch {
    throw notUnwrappable(userId, masterKey);
  }
}

function masterKeyOf(wrapped: WrappedDataKey, keyring: MasterKeyring): MasterKey {
  const masterKey = [keyring.current, ...keyring.previous].find((key) => key.id === wrapped.masterKeyId);
  if (masterKey === undefined) throw new UnknownMasterKeyError([wrapped.masterKeyId]);
  return masterKey;
}

function splitWrapped(wrapped: WrappedDataKey, userId: string, masterKey: MasterKey) {
  const text = wrapped.wrapped;
  const bytes = text.startsWith(WRAPPED_KEY_PREFIX) ? fromBase64Url(text.slice(WRAPPED_KEY_PREFIX.length)) : null;
  if (bytes === null || bytes.length !== IV_BYTES + DATA_KEY_BYTES + TAG_BYTES) throw notUnwrappable(userId, masterKey);
  return { iv: bytes.subarray(0, IV_BYTES), body: bytes.subarray(IV_BYTES) };
}

const notUnwrappable = (userId: string, masterKey: MasterKey) =>
  new UndecryptableError(`the data key of user ${userId} does not unwrap under master key ${masterKey.id}: it is another user's, or altered`);

// JSON text of an array of strings: unambiguous where plain concatenation is not ("ab"+"c", "a"+"bc").
const wrappedKeyContext = (userId: string) => encoder.encode(JSON.stringify(['fbxk1', userId]));
const valueContext = ({ userId, purpose }: ValueBinding) => encoder.encode(JSON.stringify(['fbx1', userId, purpose]));
