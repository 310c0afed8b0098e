/**
 * The formats of src/auth/envelope.ts, written again from its header comment with WebCrypto
 * alone: a test that opens what the module sealed this way holds the module to its documented
 * format (what keys.sqlite and the event log keep for years), and lets a test see a data key's
 * raw bytes, which the module never hands out.
 */
import type { CryptoKey } from '../../src/lib/crypto-key.ts';
import { toHex } from '../../src/lib/hex.ts';

const encoder = new TextEncoder();

const fromBase64Url = (text: string) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (char) => char.charCodeAt(0));

async function wrappingKeyOf(masterKey: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  const root = await crypto.subtle.importKey('raw', masterKey, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: encoder.encode('faasbox data key wrapping v1') },
    root,
    { name: 'AES-GCM', length: 256 },
    false,
    ['decrypt'],
  );
}

export async function masterKeyIdOf(masterKey: Uint8Array<ArrayBuffer>): Promise<string> {
  const root = await crypto.subtle.importKey('raw', masterKey, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: encoder.encode('faasbox master key id') },
    root,
    64,
  );
  return toHex(new Uint8Array(bits));
}

/** The 32 bytes of the data key `wrapped` (`fbxk1.…`) holds, unwrapped by hand. */
export async function rawDataKey(masterKey: Uint8Array<ArrayBuffer>, userId: string, wrapped: string): Promise<Uint8Array<ArrayBuffer>> {
  if (!wrapped.startsWith('fbxk1.')) throw new Error(`not a wrapped key: ${wrapped}`);
  const bytes = fromBase64Url(wrapped.slice('fbxk1.'.length));
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: encoder.encode(JSON.stringify(['fbxk1', userId])) },
    await wrappingKeyOf(masterKey),
    bytes.subarray(12),
  );
  return new Uint8Array(plain);
}

/** The plaintext of `encrypted` (`fbx1.…`) under the raw data key, decrypted by hand. */
export async function openValue(rawKey: Uint8Array<ArrayBuffer>, userId: string, purpose: string, encrypted: string): Promise<string> {
  if (!encrypted.startsWith('fbx1.')) throw new Error(`not an encrypted value: ${encrypted}`);
  const bytes = fromBase64Url(encrypted.slice('fbx1.'.length));
  const key = await crypto.subtle.importKey('raw', rawKey, 'AES-GCM', false, ['decrypt']);
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: encoder.encode(JSON.stringify(['fbx1', userId, purpose])) },
    key,
    bytes.subarray(12),
  );
  return new TextDecoder().decode(plain);
}
