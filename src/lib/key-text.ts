import { fromBase64 } from './base64url.ts';

/**
 * A key of exactly `length` bytes as an operator writes it: base64 (`openssl rand -base64 32`),
 * base64url, or hex (`openssl rand -hex 32`). Null for anything else, with no reason given, so
 * that no caller is tempted to quote a part of a secret in its error.
 */
export function parseKeyText(text: string, length: number): Uint8Array<ArrayBuffer> | null {
  const trimmed = text.trim();
  // Hex first: 2n hex digits are also valid base64, of 1.5n bytes, which the length check refuses.
  if (trimmed.length === 2 * length && /^[0-9a-fA-F]+$/.test(trimmed)) {
    return Uint8Array.from({ length }, (_, i) => Number.parseInt(trimmed.slice(2 * i, 2 * i + 2), 16));
  }
  // Either alphabet, padded or not: what tools print varies, and the length check is what matters.
  const bytes = fromBase64(trimmed.replace(/-/g, '+').replace(/_/g, '/'));
  return bytes !== null && bytes.length === length ? bytes : null;
}
