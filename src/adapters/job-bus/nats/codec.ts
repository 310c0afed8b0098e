/**
 * Jobs, statuses and claims on the wire: JSON in UTF-8. Both halves live here, so what a
 * publisher writes and what a consumer accepts cannot drift apart.
 */
import type { Job, StatusMessage } from '../../../ports/job-bus.ts';

/** A worker's claim on a job (see claims.ts), or its giving the job back unstarted. */
export type ClaimRecord = { token: string; state: 'claimed' | 'released' };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeMessage = (message: Job | StatusMessage | ClaimRecord): Uint8Array => encoder.encode(JSON.stringify(message));

/** Null for a message that is not a job: it can never succeed, so it is dropped, not retried. */
export const decodeJob = (data: Uint8Array): Job | null => decodeOurs<Job>(data);

/** Null for a message that is not a status: it can never succeed, so it is dropped, not retried. */
export const decodeStatus = (data: Uint8Array): StatusMessage | null => decodeOurs<StatusMessage>(data);

function decodeOurs<T extends { executionId: string }>(data: Uint8Array): T | null {
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return typeof value === 'object' && value !== null && typeof (value as { executionId?: unknown }).executionId === 'string' ? (value as T) : null;
  } catch {
    return null;
  }
}
