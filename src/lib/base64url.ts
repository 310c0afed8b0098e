/** base64url without padding (RFC 4648 §5): text that survives JSON, URLs and SQL unescaped. */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  // In chunks: spreading a large array into one call would pass the engine's argument limit.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The bytes of unpadded base64url text; null for anything else (padding, `+` or `/`, a length no bytes have). */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  return fromBinaryString(atob(text.replace(/-/g, '+').replace(/_/g, '/')));
}

/** The bytes of standard base64, padded or not; null for anything else. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const unpadded = text.replace(/=+$/, '');
  // Padding, when there is any, must be exactly what completes the last group.
  if (unpadded.length % 4 === 1 || (unpadded.length !== text.length && text.length % 4 !== 0)) return null;
  return fromBinaryString(atob(unpadded));
}

const fromBinaryString = (binary: string): Uint8Array<ArrayBuffer> => Uint8Array.from(binary, (char) => char.charCodeAt(0));
