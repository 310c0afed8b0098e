/**
 * Clients of a FaaS as the fault suites model them: each streams submissions to one api, in turn
 * synchronous and `?wait=false`, each with its own Idempotency-Key, and retries a submission with
 * that key on a network error or a 5xx other than 504 for a window. Every attempt is kept with
 * its times, so a suite can tell what was acknowledged, what was retried and when service came
 * back after a fault; `awaitOutcomes` then reads what became of each acknowledged execution.
 */
import { randomUUID } from 'node:crypto';
import { type Reply, call, send } from '../../support/http-client.ts';

export type Kind = 'async' | 'sync';
export type Attempt = { sentAt: number; answeredAt: number; reply: Reply | null; error: string | null };
export type Submission = { n: number; kind: Kind; key: string; body: string; attempts: Attempt[] };
export type User = { token: string; functionId: string };

export type Pacing = {
  /** How long a client keeps retrying one submission, from its first attempt. */
  retryWindowMs: number;
  retryPauseMs: number;
  /** A synchronous attempt waits at most for its deadline; past this the client gives it up as a network error. */
  attemptTimeoutMs: number;
  /** Between one submission's last answer and the next submission. */
  pauseMs: number;
};

export const TERMINAL = new Set(['succeeded', 'failed', 'timedOut']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const retryable = (attempt: Attempt) => attempt.reply === null || (attempt.reply.status >= 500 && attempt.reply.status !== 504);

const newSubmission = (n: number): Submission => ({ n, kind: n % 2 === 0 ? 'async' : 'sync', key: randomUUID(), body: `submission ${n}`, attempts: [] });

/** One submission, retried with its key until an answer that is not an outage, or the window closes. */
async function submit(url: string, user: User, submission: Submission, pacing: Pacing): Promise<Submission> {
  const { kind } = submission;
  const path = `/v1/functions/${user.functionId}/executions${kind === 'async' ? '?wait=false' : ''}`;
  const firstAt = Date.now();
  for (;;) {
    const attempt: Attempt = { sentAt: Date.now(), answeredAt: 0, reply: null, error: null };
    submission.attempts.push(attempt);
    try {
      attempt.reply = await send(
        (to, init) => fetch(`${url}${to}`, { ...init, signal: AbortSignal.timeout(pacing.attemptTimeoutMs) }),
        'POST',
        path,
        { token: user.token, body: submission.body, headers: { 'idempotency-key': submission.key } },
      );
    } catch (error) {
      attempt.error = error instanceof Error ? error.message : String(error);
    }
    attempt.answeredAt = Date.now();
    if (!retryable(attempt) || Date.now() - firstAt >= pacing.retryWindowMs) return submission;
    await sleep(pacing.retryPauseMs);
  }
}

/** `current` holds each submission while its client is still retrying it, so that its attempts are seen at once. */
export async function submitUntil(
  stopped: () => boolean,
  url: string,
  user: User,
  next: () => number,
  into: Submission[],
  current: Submission[],
  pacing: Pacing,
): Promise<void> {
  while (!stopped()) {
    const submission = newSubmission(next());
    current.push(submission);
    await submit(url, user, submission, pacing);
    current.splice(current.indexOf(submission), 1);
    into.push(submission);
    await sleep(pacing.pauseMs);
  }
}

export const lastReply = (submission: Submission) => submission.attempts.at(-1)!.reply;
export const acknowledged = (submission: Submission) => [200, 202, 504].includes(lastReply(submission)?.status ?? 0);
/** An answer that means the function runs or ran: a fresh 202, or an outcome that succeeded. */
export const succeeded = ({ reply }: Attempt) => reply !== null && (reply.status === 202 || (reply.status === 200 && reply.body?.status === 'succeeded'));

export const countBy = <T>(items: readonly T[], key: (item: T) => string) => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};

/** An execution as GET /v1/executions/:id answers it, in the fields the suites read. */
export type Outcome = { status: string; stdout: string; reason: string | null; exitCode: number | null; durationMs: number | null; attempt?: number };

/**
 * Each execution's outcome once it has one, null for one still open at `giveUpAt`; read one at a
 * time, so that the polling does not load the api under test.
 */
export async function awaitOutcomes(url: string, token: string, executionIds: readonly string[], giveUpAt: number): Promise<Map<string, Outcome | null>> {
  const final = new Map<string, Outcome | null>();
  for (const executionId of executionIds) {
    for (;;) {
      const { status, body } = await call(url, 'GET', `/v1/executions/${executionId}`, { token });
      const ended = status === 200 && TERMINAL.has(body.status as string);
      if (ended || Date.now() > giveUpAt) {
        final.set(executionId, ended ? (body as Outcome) : null);
        break;
      }
      await sleep(200);
    }
  }
  return final;
}
