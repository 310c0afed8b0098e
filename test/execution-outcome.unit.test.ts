import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type ContainerRunOutcome,
  EXECUTION_STATUSES,
  TERMINAL_STATUSES,
  eventFromReport,
  isTerminal,
  outcomeRecordedBy,
  reportFromEvent,
  reportFromStatus,
  statusFromRun,
} from '../src/domain/execution-outcome.ts';
import { type StatusMessage, decodeJobStdin, encodeJobStdin } from '../src/ports/job-bus.ts';

const outcome = suite('execution outcome');

const job = { executionId: 'e1', memoryMb: 64 };
const at = new Date('2026-01-01T10:00:02.000Z');
const collected = { stdout: 'hi\n', stderr: '', truncated: false, durationMs: 12 };
const base = { executionId: 'e1', at: at.toISOString() };

/** The whole path a run takes to the event log, as the worker and the api walk it. */
const storedEventOf = (run: ContainerRunOutcome) => eventFromReport(reportFromStatus(statusFromRun(run, job, at)));

outcome('exit code 0 succeeds', () => {
  assert.equal(statusFromRun({ kind: 'exited', exitCode: 0, oomKilled: false, ...collected }, job, at), {
    type: 'succeeded',
    ...base,
    ...collected,
    exitCode: 0,
  });
});

outcome('any other exit code fails, with the code as its reason', () => {
  assert.equal(statusFromRun({ kind: 'exited', exitCode: 3, oomKilled: false, ...collected }, job, at), {
    type: 'failed',
    ...base,
    ...collected,
    exitCode: 3,
    reason: 'exited with code 3',
  });
});

outcome('an OOM kill fails with the memory limit as its reason, whatever the exit code', () => {
  const status = statusFromRun({ kind: 'exited', exitCode: 0, oomKilled: true, ...collected }, job, at);
  assert.is(status.type, 'failed');
  assert.is((status as Extract<StatusMessage, { type: 'failed' }>).reason, 'out of memory: the function exceeded its 64 MB');
});

outcome('a timeout keeps the output collected and has no exit code', () => {
  assert.equal(statusFromRun({ kind: 'timedOut', ...collected }, job, at), { type: 'timedOut', ...base, ...collected, exitCode: null });
});

outcome('a platform failure carries its reason and no output', () => {
  assert.equal(statusFromRun({ kind: 'failed', reason: 'image not found', started: false }, job, at), {
    type: 'failed',
    ...base,
    reason: 'image not found',
  });
});

outcome('the correlation id and phases on the wire never reach event data', () => {
  const status: StatusMessage = { type: 'succeeded', ...base, ...collected, exitCode: 0, correlationId: 'req-1', phases: { run: 10 } };
  assert.equal(eventFromReport(reportFromStatus(status)), {
    type: 'ExecutionSucceeded',
    data: { ...collected, exitCode: 0, finishedAt: base.at },
  });
});

outcome('output a status lacks stays absent in the stored event', () => {
  assert.equal(storedEventOf({ kind: 'failed', reason: 'worker lost', started: true }), {
    type: 'ExecutionFailed',
    data: { reason: 'worker lost', finishedAt: base.at },
  });
  const timedOut: StatusMessage = { type: 'timedOut', ...base, phases: {} };
  assert.equal(eventFromReport(reportFromStatus(timedOut)), { type: 'ExecutionTimedOut', data: { finishedAt: base.at } });
});

outcome('a stored event folds back into the report it was recorded from', () => {
  const runs: ContainerRunOutcome[] = [
    { kind: 'exited', exitCode: 0, oomKilled: false, ...collected },
    { kind: 'exited', exitCode: 2, oomKilled: false, ...collected },
    { kind: 'timedOut', ...collected },
    { kind: 'failed', reason: 'engine unavailable', started: false },
  ];
  for (const run of runs) {
    const report = reportFromStatus(statusFromRun(run, job, at));
    assert.equal(reportFromEvent(eventFromReport(report)), report);
  }
  const started = reportFromStatus({ type: 'started', ...base, workerId: 'w1', containerId: 'c1' });
  assert.equal(eventFromReport(started), { type: 'ExecutionStarted', data: { workerId: 'w1', containerId: 'c1', startedAt: base.at } });
  assert.equal(reportFromEvent(eventFromReport(started)), started);
});

outcome('statuses: three of the five are an outcome, and only stored outcomes record one', () => {
  assert.equal(EXECUTION_STATUSES.filter(isTerminal), [...TERMINAL_STATUSES]);
  assert.is(outcomeRecordedBy(storedEventOf({ kind: 'timedOut', ...collected })), 'timedOut');
  assert.is(outcomeRecordedBy({ type: 'ExecutionStarted', data: {} }), null);
  assert.is(outcomeRecordedBy({ type: 'ExecutionQueued', data: {} }), null);
  assert.is(outcomeRecordedBy({ type: 'toString', data: {} }), null);
});

outcome("a job's stdin survives the trip as base64, every byte value and past one chunk", () => {
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 31) % 256);
  const text = encodeJobStdin(bytes);
  assert.is(text, Buffer.from(bytes).toString('base64'));
  assert.equal(decodeJobStdin(text), bytes);
  assert.equal(decodeJobStdin(encodeJobStdin(new Uint8Array())), new Uint8Array());
});

outcome.run();
