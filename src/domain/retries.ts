/**
 * What an asynchronous execution does after an attempt that did not succeed: another attempt,
 * later, or the dead-letter list. Pure: the decision follows from the function's policy and the
 * attempt's own report, so every process that records the report decides the same.
 */
import type { ExecutionReport } from './execution-outcome.ts';

/** A function's retry policy for its asynchronous executions (absent: one attempt, as before it existed). */
export type RetryPolicy = {
  /** Attempts in all, the first included: 1 never retries. */
  maxAttempts: number;
  /** The wait before attempt n+1 is initialMs·2^(n-1), at most maxMs. */
  backoff: { initialMs: number; maxMs: number };
  /** No attempt starts once the execution is older than this; it is dead-lettered instead. */
  maxAgeSeconds: number;
  /** Also retry the function's own failures (a non-zero exit, an OOM kill, its timeout). */
  onFunctionError: boolean;
};

export const MAX_ATTEMPTS_LIMIT = 10;

/** What a policy leaves out: a second's backoff doubling up to a minute, six hours of age, platform failures only. */
export const DEFAULT_RETRY: Omit<RetryPolicy, 'maxAttempts'> = {
  backoff: { initialMs: 1000, maxMs: 60_000 },
  maxAgeSeconds: 6 * 60 * 60,
  onFunctionError: false,
};

export const retryPolicyOf = (given: Pick<RetryPolicy, 'maxAttempts'> & Partial<RetryPolicy>): RetryPolicy => ({
  maxAttempts: given.maxAttempts,
  backoff: given.backoff ?? DEFAULT_RETRY.backoff,
  maxAgeSeconds: given.maxAgeSeconds ?? DEFAULT_RETRY.maxAgeSeconds,
  onFunctionError: given.onFunctionError ?? DEFAULT_RETRY.onFunctionError,
});

/**
 * Who failed: the platform (no worker took it, its worker was lost, the engine or the image pull
 * failed, no disk: the report carries no exit code and, for a timeout, no output, since no worker
 * saw the run end) or the function itself (it exited non-zero, was OOM-killed, or ran past its
 * timeout on a worker that said so).
 */
export function failureOf(report: ExecutionReport): 'platform' | 'function' | null {
  switch (report.type) {
    case 'FAILED':
      return report.exitCode === undefined || report.exitCode === null ? 'platform' : 'function';
    case 'TIMED_OUT':
      return report.durationMs === undefined ? 'platform' : 'function';
    default:
      return null;
  }
}

/** Milliseconds to wait after the failure of `attempt` (1-based) before the next one. */
export const backoffMs = (policy: RetryPolicy, attempt: number): number =>
  Math.min(policy.backoff.maxMs, policy.backoff.initialMs * 2 ** Math.min(attempt - 1, 30));

export type AfterAttempt = { next: 'retry'; notBefore: Date } | { next: 'deadLetter'; reason: string } | { next: 'none' };

/**
 * After an attempt ended without success. Only asynchronous executions are retried or
 * dead-lettered: a synchronous caller has its answer, and retries it itself if it wants.
 */
export function afterAttempt(input: {
  async: boolean;
  policy: RetryPolicy | undefined;
  attempt: number;
  failure: 'platform' | 'function';
  reason: string;
  endedAt: Date;
  firstQueuedAt: Date;
}): AfterAttempt {
  if (!input.async) return { next: 'none' };
  const { policy } = input;
  const retryable = policy !== undefined && (input.failure === 'platform' || policy.onFunctionError);
  if (!retryable || input.attempt >= policy.maxAttempts) {
    const attempts = input.attempt === 1 ? '' : ` (after ${input.attempt} attempts)`;
    return { next: 'deadLetter', reason: `${input.reason}${attempts}` };
  }
  const notBefore = new Date(input.endedAt.getTime() + backoffMs(policy, input.attempt));
  if (notBefore.getTime() > input.firstQueuedAt.getTime() + policy.maxAgeSeconds * 1000) {
    return { next: 'deadLetter', reason: `${input.reason}; no attempt ${input.attempt + 1}: older than its maximum age (${policy.maxAgeSeconds} s)` };
  }
  return { next: 'retry', notBefore };
}
