/**
 * Retries of asynchronous executions and the dead-letter list, in process over a scripted
 * runtime: which failures are retried (the platform's; the function's own only when asked), each
 * attempt in the record and the events, the backoff, the maximum age, slots per attempt, a stale
 * status of an earlier attempt, two dispatchers at once; then the list, redrive and delete.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { grantOperator } from '../src/commands/operator-rights.ts';
import type { Config } from '../src/config-type.ts';
import { dispatchRetry } from '../src/commands/dispatch-retry.ts';
import type { Lease } from '../src/domain/slots.ts';
import { executionStream, userSlotsStream } from '../src/domain/streams.ts';
import { type FunctionInput, type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, type InProcessAppOptions, withApp } from './support/in-process-app.ts';

const retries = suite('retries and dead letters [app in process]');

type Caller = SignedUp & { functionId: string };

const PULL_FAILED = { kind: 'fail', reason: 'image pull failed: registry unreachable', started: false } as const;
const RETRY = { maxAttempts: 3, backoff: { initialMs: 1000, maxMs: 60_000 } };

async function callerWithFunction(app: InProcessApp, input: Partial<FunctionInput> = {}): Promise<Caller> {
  const user = await signUp(app.request);
  const fn = await createFunction(app.request, user.token, { image: IMAGE, retry: RETRY, ...input });
  return { ...user, functionId: fn.id };
}

type View = {
  status: string;
  reason: string | null;
  stdout: string;
  attempt: number;
  attempts: { attempt: number; status: string; reason: string | null; exitCode: number | null }[];
  nextAttemptAt: string | null;
  deadLetter: { at: string; reason: string; redriveExecutionId: string | null; discardedAt: string | null } | null;
  redriveOf: string | null;
};

const submit = async (app: InProcessApp, caller: Caller, body = 'payload') => {
  const reply = await app.request('POST', `/v1/functions/${caller.functionId}/executions?wait=false`, { token: caller.token, body });
  assert.is(reply.status, 202, JSON.stringify(reply.body));
  return reply.body.executionId as string;
};

const view = async (app: InProcessApp, caller: Caller, executionId: string): Promise<View> => {
  const reply = await app.request('GET', `/v1/executions/${executionId}`, { token: caller.token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body as View;
};

const until = (app: InProcessApp, caller: Caller, executionId: string, what: string, holds: (view: View) => boolean) =>
  eventually(`${executionId}: ${what}`, 3_000, async () => (holds(await view(app, caller, executionId)) ? true : undefined), 10);

const typesOf = async (app: InProcessApp, executionId: string) => (await app.events(executionStream(executionId))).map((event) => event.type);

const leases = async (app: InProcessApp, stream: string): Promise<Lease[]> => {
  const [last] = await app.stored.readStream(stream, { direction: 'backwards', maxCount: 1 });
  return last === undefined ? [] : (last.data as { active: Lease[] }).active;
};

const deadLetters = async (app: InProcessApp, caller: { token: string }) => {
  const reply = await app.request('GET', '/v1/dead-letters', { token: caller.token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return (reply.body as { deadLetters: { executionId: string; reason: string; attempts: number; status: string }[] }).deadLetters;
};

/** One sample of the Prometheus exposition; 0 when the series is absent. */
const sample = async (app: InProcessApp, series: string) => {
  const text = (await app.request('GET', '/metrics')).body as string;
  const line = text.split('\n').find((each) => each.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
};

const runsOf = (app: InProcessApp, executionId: string) => app.runtime.runs.filter((run) => run.executionId === executionId);

const withLimit = (maxActivePerUser: number): InProcessAppOptions => ({
  config: (config: Config & { jwtSecret: string }) => ({ ...config, executions: { ...config.executions, maxActivePerUser } }),
});

retries("a platform failure is retried after its backoff: each attempt in the record and the events, the same stdin, one slot at a time", async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, PULL_FAILED, { kind: 'exit', exitCode: 0, stdout: 'second time lucky' });
    const executionId = await submit(app, caller, 'the same bytes');
    await until(app, caller, executionId, 'attempt 2 scheduled', (v) => v.attempt === 2);

    const waiting = await view(app, caller, executionId);
    assert.is(waiting.status, 'queued');
    assert.equal(waiting.attempts.map(({ attempt, status, reason }) => ({ attempt, status, reason })), [
      { attempt: 1, status: 'failed', reason: PULL_FAILED.reason },
    ]);
    // The backoff counts from the failure; the fixed clock has not moved, so nothing is handed out.
    assert.is(Date.parse(waiting.nextAttemptAt!) - app.clock.now().getTime(), 1000);
    assert.is(await app.dispatchRetries(), 0);
    assert.equal(await leases(app, userSlotsStream(caller.id)), [], 'an attempt waiting for its time holds no slot');

    app.clock.advance(1000);
    await until(app, caller, executionId, 'succeeded', (v) => v.status === 'succeeded');
    const done = await view(app, caller, executionId);
    assert.is(done.stdout, 'second time lucky');
    assert.is(done.attempt, 2);
    assert.is(done.nextAttemptAt, null);
    assert.is(done.deadLetter, null);
    assert.equal(
      runsOf(app, executionId).map((run) => run.stdin),
      ['the same bytes', 'the same bytes'],
    );
    assert.equal(await typesOf(app, executionId), [
      'ExecutionQueued',
      'ExecutionFailed',
      'ExecutionRetryScheduled',
      'ExecutionRequeued',
      'ExecutionStarted',
      'ExecutionSucceeded',
    ]);
    const events = await app.events(executionStream(executionId));
    assert.is((events[4]!.data as { attempt?: number }).attempt, 2, 'the second attempt says which it is');
    assert.is((events[1]!.data as { attempt?: number }).attempt, undefined, 'the first as before retries');
    await eventually('slots free', 3_000, async () => ((await leases(app, userSlotsStream(caller.id))).length === 0 ? true : undefined), 10);
  });
});

retries("the function's own failure is not retried unless its owner asks: it goes to the dead-letter list at once", async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'exit', exitCode: 3 });
    const executionId = await submit(app, caller);
    await until(app, caller, executionId, 'dead-lettered', (v) => v.deadLetter !== null);
    const record = await view(app, caller, executionId);
    assert.is(record.status, 'failed');
    assert.is(record.attempt, 1);
    assert.is(record.deadLetter!.reason, 'exited with code 3');
    assert.is(runsOf(app, executionId).length, 1);

    const asking = await callerWithFunction(app, { retry: { ...RETRY, maxAttempts: 2, onFunctionError: true } });
    app.runtime.script(IMAGE, { kind: 'exit', exitCode: 3 }, { kind: 'exit', exitCode: 0 });
    const retried = await submit(app, asking);
    await until(app, asking, retried, 'attempt 2 scheduled', (v) => v.attempt === 2);
    app.clock.advance(1000);
    await until(app, asking, retried, 'succeeded', (v) => v.status === 'succeeded');
    assert.equal((await view(app, asking, retried)).attempts.map((a) => a.exitCode), [3]);
  });
});

retries('attempts run out: dead-lettered with its last reason; a waiting request is never retried nor listed', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, PULL_FAILED, PULL_FAILED, PULL_FAILED);
    const executionId = await submit(app, caller);
    for (const attempt of [2, 3]) {
      await until(app, caller, executionId, `attempt ${attempt} scheduled`, (v) => v.attempt === attempt);
      // 1 s, then 2 s: it doubles.
      app.clock.advance(1000 * 2 ** (attempt - 2));
    }
    await until(app, caller, executionId, 'dead-lettered', (v) => v.deadLetter !== null);
    const record = await view(app, caller, executionId);
    assert.is(record.status, 'failed');
    assert.is(record.deadLetter!.reason, `${PULL_FAILED.reason} (after 3 attempts)`);
    assert.is(runsOf(app, executionId).length, 3);
    const history = await app.request('GET', `/v1/functions/${caller.functionId}/executions`, { token: caller.token });
    const [entry] = history.body.executions as Record<string, unknown>[];
    assert.equal(Object.keys(entry!).sort(), ['attempt', 'deadLetteredAt', 'durationMs', 'executionId', 'exitCode', 'finishedAt', 'queuedAt', 'reason', 'startedAt', 'status']);
    assert.equal([entry!.attempt, typeof entry!.deadLetteredAt], [3, 'string']);
    assert.is(await sample(app, 'faasbox_execution_retries_total'), 2);
    assert.is(await sample(app, 'faasbox_dead_letters_total'), 1);
    assert.is(await sample(app, 'faasbox_executions_total{outcome="failed"}'), 1, 'one execution, one outcome');
    assert.equal(
      (await deadLetters(app, caller)).map(({ executionId: id, attempts, status }) => ({ id, attempts, status })),
      [{ id: executionId, attempts: 3, status: 'failed' }],
    );

    app.runtime.script(IMAGE, PULL_FAILED);
    const waited = await app.request('POST', `/v1/functions/${caller.functionId}/executions`, { token: caller.token, body: 'x' });
    assert.is(waited.status, 200);
    assert.is(waited.body.status, 'failed');
    assert.is(waited.body.deadLetter, null);
    assert.is(waited.body.attempt, 1);
    assert.is((await deadLetters(app, caller)).length, 1);
  });
});

retries('an execution past its maximum age gets no further attempt: dead-lettered, saying why', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app, { retry: { maxAttempts: 5, backoff: { initialMs: 4000, maxMs: 4000 }, maxAgeSeconds: 3 } });
    app.runtime.script(IMAGE, PULL_FAILED);
    const executionId = await submit(app, caller);
    await until(app, caller, executionId, 'dead-lettered', (v) => v.deadLetter !== null);
    const record = await view(app, caller, executionId);
    assert.match(record.deadLetter!.reason, /older than its maximum age \(3 s\)/);
    assert.is(record.attempt, 1);
  });
});

retries('a function deleted while its execution waits for the next attempt: no attempt runs, it is dead-lettered, nothing stays due', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, PULL_FAILED);
    const executionId = await submit(app, caller);
    await until(app, caller, executionId, 'attempt 2 scheduled', (v) => v.attempt === 2);
    assert.is((await app.request('DELETE', `/v1/functions/${caller.functionId}`, { token: caller.token })).status, 200);
    app.clock.advance(1000);
    await until(app, caller, executionId, 'dead-lettered', (v) => v.deadLetter !== null);
    const record = await view(app, caller, executionId);
    assert.equal([record.status, record.deadLetter!.reason, record.nextAttemptAt], ['failed', 'no attempt 2: its function was deleted', null]);
    assert.is(runsOf(app, executionId).length, 1);
    await eventually('nothing due', 3_000, async () => (app.deps.projections.executions.retriesDue(app.clock.now()).length === 0 ? true : undefined), 10);
    assert.is(app.deps.projections.executions.get(executionId)!.status, 'failed');
  });
});

retries("a worker lost mid-run (no outcome by the deadline) is the platform's failure: retried", async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app, { timeoutMs: 1000 });
    app.runtime.script(IMAGE, { kind: 'hang' }, { kind: 'exit', exitCode: 0, stdout: 'again' });
    const executionId = await submit(app, caller);
    await until(app, caller, executionId, 'running', (v) => v.status === 'running');
    app.clock.advance(1000 + app.deps.config.executions.graceMs + 1);
    assert.is(await app.sweepDeadlines(), 1);
    await until(app, caller, executionId, 'attempt 2 scheduled', (v) => v.attempt === 2);
    assert.is((await view(app, caller, executionId)).attempts[0]!.status, 'timedOut');
    app.clock.advance(1000);
    await until(app, caller, executionId, 'succeeded', (v) => v.status === 'succeeded');
    // The hung first run finishes late: the record is the second attempt's, unchanged.
    app.runtime.runs[0]!.finish();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const record = await view(app, caller, executionId);
    assert.is(record.status, 'succeeded');
    assert.is(record.stdout, 'again');
  });
});

retries('an outcome the bus holds that no recorder delivered is recorded at the deadline: not taken for a lost worker, not run again', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app, { timeoutMs: 1000 });
    app.runtime.script(IMAGE, { kind: 'hang' });
    const executionId = await submit(app, caller);
    await until(app, caller, executionId, 'running', (v) => v.status === 'running');
    // As a NATS recorder whose consumer lost its leader: the status is stored, not yet delivered.
    const stored = { type: 'succeeded' as const, executionId, at: app.clock.now().toISOString(), exitCode: 0, stdout: 'it ran', stderr: '', truncated: false, durationMs: 900 };
    app.bus.lastStatus = async (id) => (id === executionId ? stored : null);
    app.clock.advance(1000 + app.deps.config.executions.graceMs + 1);
    assert.is(await app.sweepDeadlines(), 1);
    const record = await view(app, caller, executionId);
    assert.equal([record.status, record.stdout, record.attempt, record.deadLetter], ['succeeded', 'it ran', 1, null]);
    assert.not.ok((await typesOf(app, executionId)).includes('ExecutionRetryScheduled'));
    assert.is(runsOf(app, executionId).length, 1);
  });
});

retries('a status of an earlier attempt delivered again changes nothing; two dispatchers at once hand the attempt out once', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, PULL_FAILED, { kind: 'hang' });
    const executionId = await submit(app, caller);
    await until(app, caller, executionId, 'attempt 2 scheduled', (v) => v.attempt === 2);
    app.clock.advance(1000);
    const results = await Promise.all([1, 2, 3].map(() => dispatchRetry(app.deps, executionId, 'test')));
    assert.equal(results.filter((result) => result === 'dispatched').length, 1, JSON.stringify(results));
    await until(app, caller, executionId, 'running', (v) => v.status === 'running');
    assert.is((await typesOf(app, executionId)).filter((type) => type === 'ExecutionRequeued').length, 1);

    const before = await typesOf(app, executionId);
    await app.bus.publishStatus({ type: 'failed', executionId, at: app.clock.now().toISOString(), reason: 'worker lost' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await typesOf(app, executionId), before);
    assert.is((await view(app, caller, executionId)).status, 'running');
    assert.is(runsOf(app, executionId).length, 2);
    assert.equal((await leases(app, userSlotsStream(caller.id))).map((lease) => lease.executionId), [`${executionId}#2`]);
    app.runtime.runs[1]!.finish();
    await until(app, caller, executionId, 'succeeded', (v) => v.status === 'succeeded');
  });
});

retries("an attempt due while its owner is at the limit waits for a slot, and never passes the limit", async () => {
  await withApp(withLimit(1), async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, PULL_FAILED, { kind: 'hang' }, { kind: 'exit', exitCode: 0 });
    const retried = await submit(app, caller);
    await until(app, caller, retried, 'attempt 2 scheduled', (v) => v.attempt === 2);
    const holder = await submit(app, caller);
    await until(app, caller, holder, 'running', (v) => v.status === 'running');
    app.clock.advance(1000);
    assert.is(await app.dispatchRetries(), 0);
    assert.is((await view(app, caller, retried)).status, 'queued');
    assert.is((await leases(app, userSlotsStream(caller.id))).length, 1);

    app.runtime.runs.find((run) => run.executionId === holder)!.finish();
    await until(app, caller, retried, 'succeeded', (v) => v.status === 'succeeded');
  });
});

retries('dead letters: listed per user, everyone for operators; redriven once as a new linked execution; deleted off the list', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app, { retry: undefined });
    const other = await signUp(app.request);
    app.runtime.script(IMAGE, PULL_FAILED, PULL_FAILED);
    const first = await submit(app, caller, 'redrive me');
    const second = await submit(app, caller);
    for (const id of [first, second]) await until(app, caller, id, 'dead-lettered', (v) => v.deadLetter !== null);
    assert.equal((await deadLetters(app, caller)).map((entry) => entry.executionId), [second, first]);
    assert.equal(await deadLetters(app, other), []);
    assertProblem(await app.request('GET', '/v1/admin/dead-letters', { token: caller.token }), 403);
    await grantOperator(app.store, other.email, { by: 'root@host', now: app.clock.now(), context: { correlationId: 'test', newId: () => crypto.randomUUID() } });
    const everyone = await app.request('GET', '/v1/admin/dead-letters', { token: other.token });
    assert.is(everyone.status, 200);
    assert.equal(everyone.body.deadLetters.map((entry: { ownerId: string }) => entry.ownerId), [caller.id, caller.id]);

    // Not the owner's: refused; the owner's, twice at once: one new execution.
    assertProblem(await app.request('POST', `/v1/dead-letters/${first}/redrive`, { token: other.token }), 403);
    app.runtime.script(IMAGE, { kind: 'exit', exitCode: 0, stdout: 'redriven' });
    const [a, b] = await Promise.all([1, 2].map(() => app.request('POST', `/v1/dead-letters/${first}/redrive`, { token: caller.token })));
    assert.is(a!.status, 202, JSON.stringify(a!.body));
    assert.is(b!.status, 202, JSON.stringify(b!.body));
    assert.is(a!.body.executionId, b!.body.executionId);
    assert.is(a!.body.redriveOf, first);
    const redriven = a!.body.executionId as string;
    await until(app, caller, redriven, 'succeeded', (v) => v.status === 'succeeded');
    assert.is((await view(app, caller, redriven)).redriveOf, first);
    assert.equal(runsOf(app, redriven).map((run) => run.stdin), ['redrive me']);
    assert.is((await view(app, caller, first)).deadLetter!.redriveExecutionId, redriven);
    await eventually('off the list', 3_000, async () => ((await deadLetters(app, caller)).length === 1 ? true : undefined), 10);

    assertProblem(await app.request('POST', `/v1/dead-letters/${redriven}/redrive`, { token: caller.token }), 404);
    const deleted = await app.request('DELETE', `/v1/dead-letters/${second}`, { token: caller.token });
    assert.is(deleted.status, 200, JSON.stringify(deleted.body));
    assertProblem(await app.request('DELETE', `/v1/dead-letters/${second}`, { token: caller.token }), 404);
    await eventually('list empty', 3_000, async () => ((await deadLetters(app, caller)).length === 0 ? true : undefined), 10);
    assert.is((await view(app, caller, second)).status, 'failed', 'the record stays');
  });
});

retries('redrive all: each dead letter once, and those refused at the limit stay on the list', async () => {
  await withApp(withLimit(1), async (app) => {
    const caller = await callerWithFunction(app, { retry: undefined });
    app.runtime.script(IMAGE, PULL_FAILED, PULL_FAILED, { kind: 'hang' });
    const ids: string[] = [];
    for (const _ of [1, 2]) {
      ids.push(await submit(app, caller));
      await until(app, caller, ids.at(-1)!, 'dead-lettered', (v) => v.deadLetter !== null);
    }
    const reply = await app.request('POST', '/v1/dead-letters/redrive', { token: caller.token });
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.redriven.map((entry: { executionId: string }) => entry.executionId), [ids[0]]);
    assert.equal(reply.body.failed.map((entry: { executionId: string; code: string }) => [entry.executionId, entry.code]), [[ids[1], 'LimitReached']]);
    await eventually('one left', 3_000, async () => ((await deadLetters(app, caller)).length === 1 ? true : undefined), 10);
    assert.is((await deadLetters(app, caller))[0]!.executionId, ids[1]);
  });
});

retries('a retry policy is validated: bad values are 400 naming the field', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    for (const retry of [{ maxAttempts: 0 }, { maxAttempts: 11 }, { maxAttempts: 2, backoff: { initialMs: 5000, maxMs: 10 } }, { maxAttempts: 2, extra: 1 }]) {
      const reply = await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'f', image: IMAGE, retry } });
      assertProblem(reply, 400);
      assert.match(JSON.stringify(reply.body), /retry/);
    }
    const created = await createFunction(app.request, user.token, { image: IMAGE, retry: { maxAttempts: 2 } });
    assert.equal(created.retry, { maxAttempts: 2, backoff: { initialMs: 1000, maxMs: 60_000 }, maxAgeSeconds: 21_600, onFunctionError: false });
  });
});

retries.run();
