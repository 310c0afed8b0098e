import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { NO_WORKER_REASON, executionMachine, foldExecution, statusOf } from '../actors/execution.ts';
import type { ExecutionReport } from '../src/domain/execution-outcome.ts';

const input = { executionId: 'e1', deadline: '2026-01-01T10:01:00.000Z' };
const started: ExecutionReport = { type: 'STARTED', workerId: 'w1', containerId: 'c1', at: '2026-01-01T10:00:01.000Z', start: 'cold' };
const output = { exitCode: 0, stdout: 'hi\n', stderr: '', truncated: false, durationMs: 12 };
const succeeded: ExecutionReport = { type: 'SUCCEEDED', at: '2026-01-01T10:00:02.000Z', ...output };
const failed: ExecutionReport = { type: 'FAILED', at: '2026-01-01T10:00:02.000Z', reason: 'exited with code 3', exitCode: 3, stdout: '', stderr: 'boom', truncated: false, durationMs: 5 };
const timedOut: ExecutionReport = { type: 'TIMED_OUT', at: '2026-01-01T10:01:00.000Z' };

const machine = suite('execution machine');

machine('starts queued', () => {
  assert.is(statusOf(foldExecution(input, [])), 'queued');
});

machine('queued → running records the worker and container', () => {
  const snapshot = foldExecution(input, [started]);
  assert.is(statusOf(snapshot), 'running');
  assert.is(snapshot.context.workerId, 'w1');
  assert.is(snapshot.context.containerId, 'c1');
});

machine('running → succeeded keeps the output', () => {
  const snapshot = foldExecution(input, [started, succeeded]);
  assert.is(statusOf(snapshot), 'succeeded');
  assert.equal(snapshot.context.output, output);
});

machine('running → failed keeps the reason and exit code', () => {
  const snapshot = foldExecution(input, [started, failed]);
  assert.is(statusOf(snapshot), 'failed');
  assert.is(snapshot.context.reason, 'exited with code 3');
  assert.is(snapshot.context.output?.exitCode, 3);
});

machine('running → timedOut', () => {
  assert.is(statusOf(foldExecution(input, [started, timedOut])), 'timedOut');
});

machine('queued → failed when no worker could take it (a platform failure before start)', () => {
  const snapshot = foldExecution(input, [{ type: 'FAILED', at: input.deadline, reason: 'image missing' }]);
  assert.is(statusOf(snapshot), 'failed');
  assert.is(snapshot.context.output, null);
});

machine('a result that overtakes its start notice still counts, and the start notice still says how it ran', () => {
  const snapshot = foldExecution(input, [succeeded, started]);
  assert.is(statusOf(snapshot), 'succeeded');
  assert.equal(snapshot.context.output, output);
  assert.equal([snapshot.context.workerId, snapshot.context.start, snapshot.context.startedAt], ['w1', 'cold', started.at]);
  // A second start notice (another worker's, or a redelivery) changes nothing.
  const again = foldExecution(input, [succeeded, started, { ...started, workerId: 'w2', start: 'prestarted' }]);
  assert.equal([again.context.workerId, again.context.start], ['w1', 'cold']);
});

machine('a late result after timedOut is recorded as late and changes nothing', () => {
  const snapshot = foldExecution(input, [started, timedOut, succeeded]);
  assert.is(statusOf(snapshot), 'timedOut');
  assert.equal(snapshot.context.late, [{ type: 'SUCCEEDED', at: succeeded.at }]);
  assert.is(snapshot.context.output, null);
});

machine('an outcome is final: a second outcome changes nothing', () => {
  const snapshot = foldExecution(input, [started, succeeded, failed, timedOut]);
  assert.is(statusOf(snapshot), 'succeeded');
  assert.equal(snapshot.context.output, output);
});

machine('the live actor fails a queued execution at its deadline', async () => {
  const actor = createActor(executionMachine, { input: { executionId: 'e', deadline: new Date(Date.now() + 30).toISOString() } });
  actor.start();
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.is(statusOf(actor.getSnapshot()), 'failed');
  assert.is(actor.getSnapshot().context.reason, NO_WORKER_REASON);
  actor.stop();
});

machine('the live actor times out a running execution at its deadline, and not before', async () => {
  const actor = createActor(executionMachine, { input: { executionId: 'e', deadline: new Date(Date.now() + 60).toISOString() } });
  actor.start();
  actor.send(started);
  assert.is(statusOf(actor.getSnapshot()), 'running');
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.is(statusOf(actor.getSnapshot()), 'timedOut');
  actor.stop();
});

machine.run();
