import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { emailReservationDecider } from '../src/domain/email-reservations.ts';
import { type FunctionDefinition, type FunctionEvent, type FunctionSpec, functionDecider } from '../src/domain/functions.ts';
import { isImageReference, registryOf } from '../src/domain/image-reference.ts';
import { type UserEvent, reusableToken, userDecider } from '../src/domain/users.ts';
import { fold } from '../src/domain/decider.ts';
import { specFor } from './support/decider-spec.ts';
import { slotDecider } from '../src/domain/slots.ts';
import { executionDecider, type ExecutionEvent } from '../src/domain/executions.ts';
import { type ExecutionReportEvent, reportFromEvent, reportFromStatus, reportsFromStatus } from '../src/domain/execution-outcome.ts';

const now = new Date('2026-01-01T10:00:00.000Z');
const later = (ms: number) => new Date(now.getTime() + ms);

const registered: UserEvent = {
  type: 'UserRegistered',
  data: { userId: 'u1', email: 'ada@example.com', passwordHash: '$2b$10$hash', registeredAt: now.toISOString() },
};
const tokenIssued: UserEvent = {
  type: 'TokenIssued',
  data: { jti: 'j1', issuedAt: now.toISOString(), expiresAt: later(3_600_000).toISOString() },
};

const users = suite('users decider');
const user = specFor(userDecider);

users('given nothing, RegisterUser records the user', () => {
  user([])
    .when({ type: 'RegisterUser', userId: 'u1', email: 'ada@example.com', passwordHash: '$2b$10$hash', now })
    .then([registered]);
});

users('given a registered user, RegisterUser fails', () => {
  user([registered])
    .when({ type: 'RegisterUser', userId: 'u1', email: 'ada@example.com', passwordHash: 'x', now })
    .thenFails('UserAlreadyExists');
});

users('IssueToken records jti and whole-second times, never a token string', () => {
  user([registered])
    .when({ type: 'IssueToken', jti: 'j1', lifetimeMs: 3_600_000, now: new Date(now.getTime() + 999) })
    .then([tokenIssued]);
});

users('IssueToken issues nothing while a token has over half its lifetime left', () => {
  user([registered, tokenIssued]).when({ type: 'IssueToken', jti: 'j2', lifetimeMs: 3_600_000, now: later(1_000_000) }).then([]);
});

users('IssueToken issues a new token once the last one is past half its lifetime', () => {
  const events = userDecider.decide(
    { type: 'IssueToken', jti: 'j2', lifetimeMs: 3_600_000, now: later(2_000_000) },
    fold(userDecider, [registered, tokenIssued]),
  );
  assert.is(events.length, 1);
  assert.is(events[0]?.type, 'TokenIssued');
});

users('reusableToken finds the live token and nothing after expiry', () => {
  const state = fold(userDecider, [registered, tokenIssued]);
  assert.is(reusableToken(state, later(10_000))?.jti, 'j1');
  assert.is(reusableToken(state, later(3_600_000)), undefined);
});

users('given a deleted user, IssueToken and DeleteUser fail', () => {
  const deleted: UserEvent = { type: 'UserDeleted', data: { userId: 'u1', deletedAt: now.toISOString() } };
  user([registered, deleted]).when({ type: 'IssueToken', jti: 'j', lifetimeMs: 1000, now }).thenFails('UserNotFound');
  user([registered, deleted]).when({ type: 'DeleteUser', now }).thenFails('UserNotFound');
});

users('DeleteUser deletes an active user; a deleted user has no tokens', () => {
  user([registered, tokenIssued])
    .when({ type: 'DeleteUser', now })
    .then([{ type: 'UserDeleted', data: { userId: 'u1', deletedAt: now.toISOString() } }]);
  const state = fold(userDecider, [registered, tokenIssued, { type: 'UserDeleted', data: { userId: 'u1', deletedAt: '' } }]);
  assert.is(state.status, 'deleted');
  assert.is(reusableToken(state, later(1)), undefined);
});

const granted: UserEvent = { type: 'OperatorGranted', data: { userId: 'u1', grantedBy: 'root@host', grantedAt: now.toISOString() } };
const revoked: UserEvent = { type: 'OperatorRevoked', data: { userId: 'u1', revokedBy: 'root@host', revokedAt: later(1).toISOString() } };
const deletedEvent: UserEvent = { type: 'UserDeleted', data: { userId: 'u1', deletedAt: now.toISOString() } };

users('a registered user is no operator, whatever the email', () => {
  const state = fold(userDecider, [registered, tokenIssued]);
  assert.is(state.status === 'active' && state.operator, false);
});

users('GrantOperator grants an active user; granting again records nothing', () => {
  user([registered, tokenIssued]).when({ type: 'GrantOperator', by: 'root@host', now }).then([granted]);
  user([registered, granted]).when({ type: 'GrantOperator', by: 'someone@else', now: later(5) }).then([]);
  const state = fold(userDecider, [registered, granted]);
  assert.is(state.status === 'active' && state.operator, true);
});

users('GrantOperator fails for a user that does not exist or was deleted', () => {
  user([]).when({ type: 'GrantOperator', by: 'root@host', now }).thenFails('UserNotFound');
  user([registered, deletedEvent]).when({ type: 'GrantOperator', by: 'root@host', now }).thenFails('UserNotFound');
});

users('RevokeOperator revokes a granted user; revoking a user never granted records nothing', () => {
  user([registered, granted]).when({ type: 'RevokeOperator', by: 'root@host', now: later(1) }).then([revoked]);
  user([registered]).when({ type: 'RevokeOperator', by: 'root@host', now }).then([]);
  user([registered, granted, revoked]).when({ type: 'RevokeOperator', by: 'root@host', now }).then([]);
  user([registered, granted, deletedEvent]).when({ type: 'RevokeOperator', by: 'root@host', now }).thenFails('UserNotFound');
  const state = fold(userDecider, [registered, granted, revoked]);
  assert.is(state.status === 'active' && state.operator, false);
});

users('a revoked operator can be granted again', () => {
  user([registered, granted, revoked]).when({ type: 'GrantOperator', by: 'root@host', now }).then([granted]);
});

users('deleting an operator ends the rights with the account', () => {
  assert.is(fold(userDecider, [registered, granted, deletedEvent]).status, 'deleted');
});

users.run();

const emails = suite('email reservation decider');
const email = specFor(emailReservationDecider);
const reserved = (userId: string) => ({ type: 'EmailReserved' as const, data: { userId, reservedAt: now.toISOString() } });
const released = (userId: string) => ({ type: 'EmailReleased' as const, data: { userId, releasedAt: now.toISOString() } });

emails('given nothing, ReserveEmail reserves', () => {
  email([]).when({ type: 'ReserveEmail', userId: 'u1', now }).then([reserved('u1')]);
});

emails('given a reservation by another user, ReserveEmail fails with EmailTaken', () => {
  email([reserved('u1')]).when({ type: 'ReserveEmail', userId: 'u2', now }).thenFails('EmailTaken');
});

emails('given an abandoned reservation, ReserveEmail takes it over, releasing it first', () => {
  email([reserved('u1')])
    .when({ type: 'ReserveEmail', userId: 'u2', now, abandonedHolder: 'u1' })
    .then([released('u1'), reserved('u2')]);
});

emails('naming a holder that is not the current one does not take the email', () => {
  email([reserved('u1'), released('u1'), reserved('u3')])
    .when({ type: 'ReserveEmail', userId: 'u2', now, abandonedHolder: 'u1' })
    .thenFails('EmailTaken');
});

emails('given a released email, ReserveEmail reserves it for the new user', () => {
  email([reserved('u1'), released('u1')]).when({ type: 'ReserveEmail', userId: 'u2', now }).then([reserved('u2')]);
});

emails('ReleaseEmail by the holder releases; by anyone else it changes nothing', () => {
  email([reserved('u1')]).when({ type: 'ReleaseEmail', userId: 'u1', now }).then([released('u1')]);
  email([reserved('u1')]).when({ type: 'ReleaseEmail', userId: 'u2', now }).then([]);
  email([]).when({ type: 'ReleaseEmail', userId: 'u1', now }).then([]);
});

emails.run();

const functions = suite('function decider');
const fn = specFor(functionDecider);
const spec: FunctionSpec = { name: 'hello', image: 'busybox', command: ['echo', 'hi'], env: { A: '1' }, timeoutMs: 30_000, memoryMb: 128 };
const created: FunctionEvent = {
  type: 'FunctionCreated',
  data: { functionId: 'f1', ownerId: 'u1', ...spec, createdAt: now.toISOString() },
};

functions('given nothing, CreateFunction records the definition', () => {
  fn([]).when({ type: 'CreateFunction', functionId: 'f1', ownerId: 'u1', spec, now }).then([created]);
});

functions('given an existing function, CreateFunction fails', () => {
  fn([created]).when({ type: 'CreateFunction', functionId: 'f1', ownerId: 'u1', spec, now }).thenFails('FunctionAlreadyExists');
});

functions('the owner deletes its function', () => {
  fn([created])
    .when({ type: 'DeleteFunction', requesterId: 'u1', now })
    .then([{ type: 'FunctionDeleted', data: { functionId: 'f1', deletedAt: now.toISOString(), reason: 'deleted by owner' } }]);
});

functions('another user may not delete it', () => {
  fn([created]).when({ type: 'DeleteFunction', requesterId: 'u2', now }).thenFails('NotFunctionOwner');
});

functions('the platform deletes the function of a deleted owner', () => {
  fn([created])
    .when({ type: 'DeleteFunction', requesterId: null, now })
    .then([{ type: 'FunctionDeleted', data: { functionId: 'f1', deletedAt: now.toISOString(), reason: 'owner deleted' } }]);
});

functions('unknown or already deleted functions are not found', () => {
  fn([]).when({ type: 'DeleteFunction', requesterId: 'u1', now }).thenFails('FunctionNotFound');
  const deleted: FunctionEvent = { type: 'FunctionDeleted', data: { functionId: 'f1', deletedAt: '', reason: 'deleted by owner' } };
  fn([created, deleted]).when({ type: 'DeleteFunction', requesterId: 'u1', now }).thenFails('FunctionNotFound');
});

const aMinuteLater = later(60_000);
const updated: FunctionEvent = {
  type: 'FunctionUpdated',
  data: { functionId: 'f1', ownerId: 'u1', ...spec, env: { A: '2' }, createdAt: now.toISOString(), version: 2, versionCreatedAt: aMinuteLater.toISOString() },
};

functions('an update against the current version is the next version: the whole definition, the rest kept', () => {
  fn([created]).when({ type: 'UpdateFunction', requesterId: 'u1', changes: { env: { A: '2' } }, baseVersion: 1, now: aMinuteLater }).then([updated]);
});

functions('an update against another version is a conflict naming the current one; the same spec again is no version', () => {
  fn([created, updated]).when({ type: 'UpdateFunction', requesterId: 'u1', changes: { memoryMb: 64 }, baseVersion: 1, now: aMinuteLater }).thenFails('VersionConflict');
  fn([created, updated]).when({ type: 'UpdateFunction', requesterId: 'u1', changes: { env: { A: '2' } }, baseVersion: 2, now: aMinuteLater }).then([]);
  fn([created]).when({ type: 'UpdateFunction', requesterId: 'u2', changes: { memoryMb: 64 }, baseVersion: 1, now: aMinuteLater }).thenFails('NotFunctionOwner');
  // Optional settings at their defaults are the same spec as when absent.
  fn([created]).when({ type: 'UpdateFunction', requesterId: 'u1', changes: { minWarm: 0, reuse: false }, baseVersion: 1, now: aMinuteLater }).then([]);
});

functions('a rollback is the next version, a copy of the earlier one; an unknown version is refused', () => {
  fn([created, updated])
    .when({ type: 'RollbackFunction', requesterId: 'u1', version: 1, baseVersion: 2, now: aMinuteLater })
    .then([
      {
        type: 'FunctionRolledBack',
        data: { functionId: 'f1', ownerId: 'u1', ...spec, createdAt: now.toISOString(), version: 3, versionCreatedAt: aMinuteLater.toISOString(), rolledBackFrom: 1 },
      },
    ]);
  fn([created, updated]).when({ type: 'RollbackFunction', requesterId: 'u1', version: 7, baseVersion: 2, now: aMinuteLater }).thenFails('VersionNotFound');
});

const [digestA, digestB] = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`];
const pinned: FunctionEvent = { type: 'FunctionCreated', data: { ...(created.data as FunctionDefinition), imageDigest: digestA } };
const atVersion2 = (changes: Partial<FunctionSpec>): FunctionEvent => ({
  type: 'FunctionUpdated',
  data: { ...(pinned.data as FunctionDefinition), ...changes, version: 2, versionCreatedAt: aMinuteLater.toISOString() },
});

functions('digests: the same tag at the same digest is no version; at another digest it is the next one; other changes keep the digest', () => {
  fn([pinned]).when({ type: 'UpdateFunction', requesterId: 'u1', changes: { image: 'busybox', imageDigest: digestA }, baseVersion: 1, now: aMinuteLater }).then([]);
  fn([pinned])
    .when({ type: 'UpdateFunction', requesterId: 'u1', changes: { image: 'busybox', imageDigest: digestB }, baseVersion: 1, now: aMinuteLater })
    .then([atVersion2({ imageDigest: digestB })]);
  fn([pinned]).when({ type: 'UpdateFunction', requesterId: 'u1', changes: { memoryMb: 64 }, baseVersion: 1, now: aMinuteLater }).then([atVersion2({ memoryMb: 64 })]);
});

functions("digests: a new image without a digest of its own does not keep the old image's; a rollback copies the earlier digest", () => {
  const unpinned = atVersion2({ image: 'other' });
  delete (unpinned.data as FunctionDefinition).imageDigest;
  fn([pinned]).when({ type: 'UpdateFunction', requesterId: 'u1', changes: { image: 'other' }, baseVersion: 1, now: aMinuteLater }).then([unpinned]);
  fn([pinned, atVersion2({ imageDigest: digestB })])
    .when({ type: 'RollbackFunction', requesterId: 'u1', version: 1, baseVersion: 2, now: aMinuteLater })
    .then([{ type: 'FunctionRolledBack', data: { ...(pinned.data as FunctionDefinition), version: 3, versionCreatedAt: aMinuteLater.toISOString(), rolledBackFrom: 1 } }]);
});

functions.run();

const images = suite('image references');

images('accepts what Docker accepts', () => {
  for (const ref of [
    'busybox',
    'busybox:1.36',
    'library/busybox:latest',
    '127.0.0.1:5000/faasbox/echo:v1',
    'registry.example.com/team/app@sha256:' + 'a'.repeat(64),
    'localhost/a_b__c-d.e:tag_1.2-x',
    '[::1]:5000/x',
  ]) {
    assert.ok(isImageReference(ref), ref);
  }
});

images('refuses what Docker refuses', () => {
  for (const ref of ['', 'Busybox', 'busybox:', ':tag', 'a//b', 'a b', '-a', 'busybox:' + 'x'.repeat(129), 'a/../b', 'a@sha256:short', 'x'.repeat(256)]) {
    assert.not.ok(isImageReference(ref), ref);
  }
});

images('the registry of a reference is found as Docker finds it', () => {
  assert.is(registryOf('busybox'), 'docker.io');
  assert.is(registryOf('library/busybox:1'), 'docker.io');
  assert.is(registryOf('127.0.0.1:5000/faasbox/echo:1'), '127.0.0.1:5000');
  assert.is(registryOf('registry.example.com/team/app'), 'registry.example.com');
  assert.is(registryOf('localhost/app'), 'localhost');
  assert.is(registryOf('[::1]:5000/x'), '[::1]:5000');
});

images.run();

const slots = suite('slot decider');
const slot = specFor(slotDecider);
const lease = (executionId: string, ms: number) => ({ executionId, leaseUntil: later(ms).toISOString() });
const reservedSlot = (executionId: string, ms: number, active: { executionId: string; leaseUntil: string }[]) => ({
  type: 'SlotReserved' as const,
  data: { ...lease(executionId, ms), active },
});

slots('given no stream, ReserveSlot takes a lease and lists it as active', () => {
  slot([])
    .when({ type: 'ReserveSlot', executionId: 'e1', leaseUntil: later(60_000), limit: 2, now })
    .then([reservedSlot('e1', 60_000, [lease('e1', 60_000)])]);
});

slots('at the limit, ReserveSlot fails with LimitReached', () => {
  const given = [reservedSlot('e1', 60_000, [lease('e1', 60_000)]), reservedSlot('e2', 60_000, [lease('e1', 60_000), lease('e2', 60_000)])];
  slot(given).when({ type: 'ReserveSlot', executionId: 'e3', leaseUntil: later(60_000), limit: 2, now }).thenFails('LimitReached');
});

slots('an expired lease counts as free and is dropped from the active set', () => {
  const given = [reservedSlot('e1', -1, [lease('e1', -1)])];
  slot(given)
    .when({ type: 'ReserveSlot', executionId: 'e2', leaseUntil: later(60_000), limit: 1, now })
    .then([reservedSlot('e2', 60_000, [lease('e2', 60_000)])]);
});

slots('the state is the last event alone', () => {
  const state = fold(slotDecider, [reservedSlot('e9', 60_000, [lease('e1', 60_000)])]);
  assert.equal(state.active.map((l) => l.executionId), ['e1']);
});

slots('ReleaseSlot releases a held lease; releasing a free one writes nothing', () => {
  const given = [reservedSlot('e1', 60_000, [lease('e1', 60_000)])];
  slot(given)
    .when({ type: 'ReleaseSlot', executionId: 'e1', now })
    .then([{ type: 'SlotReleased', data: { executionId: 'e1', active: [] } }]);
  slot(given).when({ type: 'ReleaseSlot', executionId: 'e2', now }).then([]);
});

slots('reserving twice for one execution takes one slot', () => {
  slot([reservedSlot('e1', 60_000, [lease('e1', 60_000)])])
    .when({ type: 'ReserveSlot', executionId: 'e1', leaseUntil: later(60_000), limit: 1, now })
    .then([]);
});

slots.run();

const executions = suite('execution decider');
const execution = specFor(executionDecider);
const queuedData = {
  executionId: 'e1',
  functionId: 'f1',
  ownerId: 'u1',
  image: 'busybox',
  timeoutMs: 1000,
  stdinBytes: 0,
  queuedAt: now.toISOString(),
  deadline: later(31_000).toISOString(),
  slotStreams: ['slots-u1'],
};
const queued: ExecutionEvent = { type: 'ExecutionQueued', data: queuedData };
const startedEvent: ExecutionEvent = { type: 'ExecutionStarted', data: { workerId: 'w', containerId: 'c', startedAt: later(100).toISOString(), start: 'prestarted' } };

executions('QueueExecution records the execution once', () => {
  execution([]).when({ type: 'QueueExecution', data: queuedData }).then([queued]);
  execution([queued]).when({ type: 'QueueExecution', data: queuedData }).thenFails('ExecutionAlreadyExists');
});

executions('a report for an unknown execution is refused', () => {
  execution([]).when({ type: 'RecordReports', reports: [{ type: 'STARTED', workerId: 'w', containerId: 'c', at: '', start: 'cold' }] }).thenFails('ExecutionNotFound');
});

executions('a start report becomes ExecutionStarted; the same report again writes nothing', () => {
  const report = { type: 'STARTED' as const, workerId: 'w', containerId: 'c', at: later(100).toISOString(), start: 'prestarted' as const };
  execution([queued]).when({ type: 'RecordReports', reports: [report] }).then([startedEvent]);
  execution([queued, startedEvent]).when({ type: 'RecordReports', reports: [report] }).then([]);
});

executions('a start from a worker that does not say how it started is stored without `start`, and folds back as null', () => {
  const report = { type: 'STARTED' as const, workerId: 'w', containerId: 'c', at: later(100).toISOString(), start: null };
  const { start: _, ...older } = startedEvent.data as { start?: string };
  execution([queued]).when({ type: 'RecordReports', reports: [report] }).then([{ type: 'ExecutionStarted', data: older } as ExecutionEvent]);
  assert.equal(reportFromEvent({ type: 'ExecutionStarted', data: older } as ExecutionReportEvent), report);
  // What a worker says is data from another process: an unknown kind is no kind.
  assert.equal(reportFromStatus({ type: 'started', executionId: 'e', at: report.at, workerId: 'w', containerId: 'c', start: 'bogus' as never }), report);
  assert.equal(reportFromStatus({ type: 'started', executionId: 'e', at: report.at, workerId: 'w', containerId: 'c', start: 'prestarted' }), { ...report, start: 'prestarted' });
});

executions('a start notice overtaken by its result is recorded once; the outcome stays', () => {
  const succeededEvent: ExecutionEvent = {
    type: 'ExecutionSucceeded',
    data: { exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 3, finishedAt: later(200).toISOString() },
  };
  const report = { type: 'STARTED' as const, workerId: 'w', containerId: 'c', at: later(100).toISOString(), start: 'prestarted' as const };
  execution([queued, succeededEvent]).when({ type: 'RecordReports', reports: [report] }).then([startedEvent]);
  execution([queued, succeededEvent, startedEvent]).when({ type: 'RecordReports', reports: [report] }).then([]);
});

executions('a start and the outcome it came with: both recorded, in order, in one decision; again, nothing', () => {
  const succeededEvent: ExecutionEvent = {
    type: 'ExecutionSucceeded',
    data: { exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 3, finishedAt: later(200).toISOString() },
  };
  const start = { type: 'STARTED' as const, workerId: 'w', containerId: 'c', at: later(100).toISOString(), start: 'prestarted' as const };
  const outcome = reportFromEvent(succeededEvent as ExecutionReportEvent);
  execution([queued]).when({ type: 'RecordReports', reports: [start, outcome] }).then([startedEvent, succeededEvent]);
  execution([queued, startedEvent]).when({ type: 'RecordReports', reports: [start, outcome] }).then([succeededEvent]);
  execution([queued, startedEvent, succeededEvent]).when({ type: 'RecordReports', reports: [start, outcome] }).then([]);
  // A final status that carries its start gives both reports; one whose `started` is not a start notice, the outcome alone.
  const status = { type: 'succeeded' as const, executionId: 'e', at: outcome.at, exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 3 };
  assert.equal(reportsFromStatus({ ...status, started: { at: start.at, workerId: 'w', containerId: 'c', start: 'prestarted' } }), [start, outcome]);
  assert.equal(reportsFromStatus({ ...status, started: { workerId: 'w' } as never }), [outcome]);
  assert.equal(reportsFromStatus(status), [outcome]);
});

executions('a late success after a timeout is recorded, as late', () => {
  const timedOutEvent: ExecutionEvent = { type: 'ExecutionTimedOut', data: { finishedAt: later(31_000).toISOString() } };
  const report = { type: 'SUCCEEDED' as const, at: later(32_000).toISOString(), exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 3 };
  const events = executionDecider.decide({ type: 'RecordReports', reports: [report] }, fold(executionDecider, [queued, startedEvent, timedOutEvent]));
  assert.is(events[0]?.type, 'ExecutionSucceeded');
  const state = fold(executionDecider, [queued, startedEvent, timedOutEvent, ...events]);
  assert.ok(state.status === 'present' && state.snapshot.value === 'timedOut' && state.snapshot.context.late.length === 1);
});

executions('a late result delivered again writes nothing: it is the same fact, under the same event id', () => {
  const timedOutEvent: ExecutionEvent = { type: 'ExecutionTimedOut', data: { finishedAt: later(31_000).toISOString() } };
  const output = { exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 3 };
  const lateEvent: ExecutionEvent = { type: 'ExecutionSucceeded', data: { ...output, finishedAt: later(32_000).toISOString() } };
  const report = { type: 'SUCCEEDED' as const, at: later(32_000).toISOString(), ...output };
  execution([queued, startedEvent, timedOutEvent, lateEvent]).when({ type: 'RecordReports', reports: [report] }).then([]);
  // A late failure is another fact: still recorded.
  const failure = { type: 'FAILED' as const, at: later(33_000).toISOString(), reason: 'exited with code 1' };
  execution([queued, startedEvent, timedOutEvent, lateEvent])
    .when({ type: 'RecordReports', reports: [failure] })
    .then([{ type: 'ExecutionFailed', data: { reason: 'exited with code 1', finishedAt: failure.at } }]);
});

executions('ExpireExecution before the deadline writes nothing', () => {
  execution([queued, startedEvent]).when({ type: 'ExpireExecution', now: later(30_999) }).then([]);
});

executions('ExpireExecution past the deadline: queued → failed (no worker), running → timedOut, finished → nothing', () => {
  const deadline = later(31_000);
  execution([queued])
    .when({ type: 'ExpireExecution', now: deadline })
    .then([{ type: 'ExecutionFailed', data: { reason: 'no worker took the execution before its deadline', finishedAt: deadline.toISOString() } }]);
  execution([queued, startedEvent])
    .when({ type: 'ExpireExecution', now: deadline })
    .then([{ type: 'ExecutionTimedOut', data: { finishedAt: deadline.toISOString() } }]);
  const done: ExecutionEvent = { type: 'ExecutionSucceeded', data: { exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 1, finishedAt: later(200).toISOString() } };
  execution([queued, startedEvent, done]).when({ type: 'ExpireExecution', now: deadline }).then([]);
});

executions.run();
