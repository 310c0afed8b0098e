import { decryptValue, ENCRYPTED_VALUE_PREFIX, encryptValue } from '../auth/envelope.ts';
import type { KeyStore } from '../ports/key-store.ts';
import { keyToOpen, keyToSeal } from './data-keys.ts';

/**
 * The stdin an asynchronous execution keeps for its retries and redrives is the caller's data:
 * it is stored encrypted under their data key, bound to the execution, and goes with the key.
 * Stdin kept before this was plain base64, which never holds the envelope's `.`: both read.
 */
const stdinPurpose = (executionId: string) => `stdin:${executionId}`;

export async function sealStdin(keys: KeyStore, ownerId: string, executionId: string, base64: string): Promise<string> {
  return encryptValue(base64, await keyToSeal(keys, ownerId), { userId: ownerId, purpose: stdinPurpose(executionId) });
}

/** The kept stdin as base64 (encodeJobStdin's form). */
export async function openStdin(keys: KeyStore, queued: { ownerId: string; executionId: string; stdin: string }): Promise<string> {
  if (!queued.stdin.startsWith(ENCRYPTED_VALUE_PREFIX)) return queued.stdin;
  return decryptValue(queued.stdin, await keyToOpen(keys, queued.ownerId), { userId: queued.ownerId, purpose: stdinPurpose(queued.executionId) });
}
