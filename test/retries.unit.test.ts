/**
 * What follows a failed attempt (src/domain/retries.ts) and how the execution decider keeps
 * attempts apart: pure, with no clock but the reports' own times.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fold } from '../src/domain/decider.ts';
import { type ExecutionEvent, executionDecider } from '../src/domain/executions.ts';
import { type RetryPolicy, afterAttempt, backoffMs, failureOf, retryPolicyOf } from '../src/domain/retries.ts';
import { specFor } from './support/decider-spec.ts';

const T0 = new Date('2026-01-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms).toISOString();
const POLICY: RetryPolicy = retryPolicyOf({ maxAttempts: 3, backoff: { initialMs: 1000, maxMs: 1500 } });

const policy = suite('retry policy');

policy('who failed: no exit code, or a timeout no worker measured, is the platform; an exit or a measured timeout, the function', () => {
  assert.is(failureOf({ type: 'FAILED', at: at(0), reason: 'image pull failed' }), 'platform');
  assert.is(failureOf({ type: 'FAILED', at: at(0), reason: 'exited with code 2', exitCode: 2 }), 'function');
  assert.is(failureOf({ type: 'TIMED_OUT', at: at(0) }), 'platform');
  assert.is(failureOf({ type: 'TIMED_OUT', at: at(0), durationMs: 100, exitCode: null }), 'function');
  assert.is(failureOf({ type: 'SUCCEEDED', at: at(0), exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 1 }), null);
});

policy('the backoff doubles from initialMs and stops at maxMs; a missing policy part takes its default', () => {
  assert.equal([1, 2, 3].map((attempt) => backoffMs(POLICY, attempt)), [1000, 1500, 1500]);
  assert.equal(retryPolicyOf({ maxAttempts: 2 }), { maxAttempts: 2, backoff: { initialMs: 1000, maxMs: 60_000 }, maxAgeSeconds: 21_600, onFunctionError: false });
  assert.is(backoffMs(retryPolicyOf({ maxAttempts: 10, backoff: { initialMs: 1, maxMs: 3_600_000 } }), 1000), 3_600_000, 'no overflow');
});

policy('after an attempt: retry, dead letter, or nothing for a waiting request', () => {
  const base = { async: true, policy: POLICY, attempt: 1, failure: 'platform' as const, reason: 'pull failed', endedAt: new Date(at(0)), firstQueuedAt: T0 };
  assert.equal(afterAttempt(base), { next: 'retry', notBefore: new Date(at(1000)) });
  assert.equal(afterAttempt({ ...base, async: false }), { next: 'none' });
  assert.equal(afterAttempt({ ...base, attempt: 3 }), { next: 'deadLetter', reason: 'pull failed (after 3 attempts)' });
  assert.equal(afterAttempt({ ...base, failure: 'function' }), { next: 'deadLetter', reason: 'pull failed' });
  assert.equal(afterAttempt({ ...base, failure: 'function', policy: { ...POLICY, onFunctionError: true } }).next, 'retry');
  assert.equal(afterAttempt({ ...base, policy: undefined }), { next: 'deadLetter', reason: 'pull failed' });
  const old = afterAttempt({ ...base, policy: { ...POLICY, maxAgeSeconds: 1 }, endedAt: new Date(at(500)) });
  assert.equal(old.next, 'deadLetter');
  assert.match((old as { reason: string }).reason, /no attempt 2: older than its maximum age \(1 s\)/);
});

const execution = specFor(executionDecider);
const queued: ExecutionEvent = {
  type: 'ExecutionQueued',
  data: {
    executionId: 'e1',
    functionId: 'f1',
    ownerId: 'u1',
    image: 'img',
    timeoutMs: 1000,
    stdinBytes: 1,
    queuedAt: at(0),
    deadline: at(5000),
    slotStreams: ['slots-u1'],
    async: true,
    retry: POLICY,
    stdin: 'eA==',
  },
};
const pullFailed: ExecutionEvent = { type: 'ExecutionFailed', data: { reason: 'pull failed', finishedAt: at(100) } };
const scheduled: ExecutionEvent = { type: 'ExecutionRetryScheduled', data: { attempt: 2, notBefore: at(1100), deadline: at(6100), reason: 'pull failed' } };
const requeued: ExecutionEvent = { type: 'ExecutionRequeued', data: { attempt: 2, queuedAt: at(1200), deadline: at(6200), slotStreams: ['slots-u1'] } };

const decider = suite('execution decider: attempts');

decider("a platform failure of an attempt with attempts left schedules the next in the same decision", () => {
  execution([queued])
    .when({ type: 'RecordReports', reports: [{ type: 'FAILED', at: at(100), reason: 'pull failed' }] })
    .then([pullFailed, scheduled]);
});

decider('while the next attempt waits: a status of the last one, the deadline, a second requeue change nothing', () => {
  execution([queued, pullFailed, scheduled]).when({ type: 'RecordReports', reports: [{ type: 'FAILED', at: at(200), reason: 'worker lost' }] }).then([]);
  execution([queued, pullFailed, scheduled]).when({ type: 'ExpireExecution', now: new Date(at(60_000)) }).then([]);
  execution([queued, pullFailed, scheduled, requeued]).when({ type: 'RequeueExecution', data: requeued.data }).then([]);
  execution([queued, pullFailed, scheduled, requeued])
    .when({ type: 'RecordReports', reports: [{ type: 'FAILED', at: at(300), reason: 'worker lost' }] })
    .then([]);
});

decider('the last attempt failing is a dead letter; abandoning a waiting attempt is too', () => {
  const second: ExecutionEvent = { type: 'ExecutionFailed', data: { reason: 'pull failed', finishedAt: at(1300), attempt: 2 } };
  const afterSecond = [queued, pullFailed, scheduled, requeued, second];
  const state = fold(executionDecider, afterSecond);
  assert.is(state.status === 'present' && state.attempt, 2);
  execution([queued, pullFailed, scheduled])
    .when({ type: 'AbandonRetry', reason: 'its function was deleted', now: new Date(at(2000)) })
    .then([
      { type: 'ExecutionFailed', data: { reason: 'its function was deleted', finishedAt: at(2000), attempt: 2 } },
      { type: 'ExecutionDeadLettered', data: { reason: 'its function was deleted', at: at(2000), attempts: 1 } },
    ]);
  const lastPolicy = { ...queued, data: { ...queued.data, retry: { ...POLICY, maxAttempts: 1 } } } as ExecutionEvent;
  execution([lastPolicy])
    .when({ type: 'RecordReports', reports: [{ type: 'FAILED', at: at(100), reason: 'pull failed' }] })
    .then([pullFailed, { type: 'ExecutionDeadLettered', data: { reason: 'pull failed', at: at(100), attempts: 1 } }]);
});

decider('a dead letter is redriven once (the same id again decides nothing), or discarded; neither twice', () => {
  const dead: ExecutionEvent = { type: 'ExecutionDeadLettered', data: { reason: 'x', at: at(100), attempts: 1 } };
  const redriven: ExecutionEvent = { type: 'ExecutionRedriven', data: { redriveExecutionId: 'e2', at: at(200) } };
  execution([queued, pullFailed, dead]).when({ type: 'RedriveDeadLetter', redriveExecutionId: 'e2', now: new Date(at(200)) }).then([redriven]);
  execution([queued, pullFailed, dead, redriven]).when({ type: 'RedriveDeadLetter', redriveExecutionId: 'e2', now: new Date(at(300)) }).then([]);
  execution([queued, pullFailed, dead, redriven]).when({ type: 'DiscardDeadLetter', now: new Date(at(300)) }).thenFails('DeadLetterNotFound');
  execution([queued]).when({ type: 'RedriveDeadLetter', redriveExecutionId: 'e2', now: new Date(at(200)) }).thenFails('DeadLetterNotFound');
  const unkept = { ...queued, data: { ...queued.data, stdin: undefined } } as ExecutionEvent;
  execution([unkept, pullFailed, dead]).when({ type: 'RedriveDeadLetter', redriveExecutionId: 'e2', now: new Date(at(200)) }).thenFails('DeadLetterNotRedrivable');
});

policy.run();
decider.run();
