import { toHex } from '../lib/hex.ts';

/**
 * An event id derived from what the event records, so that two processes recording the same
 * fact (the recorder and the waiting request, or a redelivered status) write it once: the
 * store takes an append whose first event id is already in the stream as a retry.
 */
export function deterministicEventId(...parts: string[]): Promise<string> {
  const key = parts.join('\u0000');
  let id = recentIds.get(key);
  if (id === undefined) {
    id = eventIdOf(key);
    recentIds.set(key, id);
    // The oldest goes first: a Map iterates in insertion order.
    if (recentIds.size > RECENT_IDS) recentIds.delete(recentIds.keys().next().value!);
  }
  return id;
}

/**
 * The recorder and the waiting request derive the same ids moments apart: kept, the second asks
 * nothing of WebCrypto (whose digest is asynchronous, a hop to another thread each time).
 */
const recentIds = new Map<string, Promise<string>>();
const RECENT_IDS = 1024;

async function eventIdOf(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  digest[6] = (digest[6]! & 0x0f) | 0x50; // RFC 9562 layout, version 5 (name-based)
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = toHex(digest.subarray(0, 16));
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The id of the same fact for another attempt of its execution, with no second digest: the
 * first attempt keeps the derived id itself (as stored before retries existed), a later one gets
 * it with the attempt folded into its last four hex digits.
 */
export function ofAttempt(id: string, attempt: number): string {
  if (attempt <= 1) return id;
  const tail = (Number.parseInt(id.slice(-4), 16) ^ attempt) & 0xffff;
  return `${id.slice(0, -4)}${tail.toString(16).padStart(4, '0')}`;
}
