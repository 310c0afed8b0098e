/**
 * Callbacks are signed as Stripe signs webhooks: `Faasbox-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256 over "<t>.<raw body>">`. The key is the user's own, derived from the api's JWT
 * secret (HKDF-SHA256), so no key is stored, every api derives the same one, and one user's key
 * tells nothing of another's. Rotating FAASBOX_JWT_SECRET rotates every user's key.
 */
import { toHex } from '../lib/hex.ts';

export const SIGNATURE_HEADER = 'Faasbox-Signature';
export const DELIVERY_HEADER = 'Faasbox-Delivery';
export const SIGNATURE_ALGORITHM = 'HMAC-SHA256';

const encoder = new TextEncoder();

/** The user's signing key: 32 bytes, the same at every api that has the same secret. */
export async function callbackSigningKey(secret: string, userId: string): Promise<Uint8Array<ArrayBuffer>> {
  const material = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: encoder.encode(`faasbox callback signing key ${userId}`) },
    material,
    256,
  );
  return new Uint8Array(bits);
}

/** The header's value for `body` sent at `timestampSeconds`. */
export async function signatureHeader(key: Uint8Array<ArrayBuffer>, timestampSeconds: number, body: string): Promise<string> {
  const hmac = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', hmac, encoder.encode(`${timestampSeconds}.${body}`));
  return `t=${timestampSeconds},v1=${toHex(new Uint8Array(mac))}`;
}

/** base64url without padding, as the key is handed to its user. */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
