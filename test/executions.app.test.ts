/**
 * Executions in process: the api, the recorder, the deadline sweeper and a worker over a
 * scripted runtime, with the store and the bus made to fail where src/commands/start-execution.ts,
 * slots.ts, record-report.ts, record-statuses.ts and sweep-deadlines.ts must cope: slots taken in
 * a race and given back, the bus down, outcomes recorded once, results after a timeout.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_WORKER_REASON } from '../actors/execution.ts';
import { deterministicEventId } from '../src/commands/deterministic-id.ts';
import type { Config } from '../src/config-type.ts';
import type { Lease } from '../src/domain/slots.ts';
import { GLOBAL_SLOTS_STREAM, executionStream, userSlotsStream } from '../src/domain/streams.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { busDown } from './support/faults.ts';
import { type Reply, assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, type InProcessAppOptions, withApp } from './support/in-process-app.ts';

const executions = suite('executions [app in process]');

const withExecutions = (settings: Partial<Config['executions']>, worker?: InProcessAppOptions['worker']): InProcessAppOptions => ({
  config: (config) => ({ ...config, executions: { ...config.executions, ...settings } }),
  worker,
});

type Caller = SignedUp & { functionId: string; timeoutMs: number };

async function callerWithFunction(app: InProcessApp, spec: { image?: string; timeoutMs?: number } = {}): Promise<Caller> {
  const user = await signUp(app.request);
  const fn = await createFunction(app.request, user.token, { image: spec.image ?? IMAGE, timeoutMs: spec.timeoutMs });
  return { ...user, functionId: fn.id, timeoutMs: fn.timeoutMs };
}

const execute = (app: InProcessApp, caller: Caller, options: { body?: string; wait?: boolean; headers?: Record<string, string> } = {}) =>
  app.request('POST', `/v1/functions/${caller.functionId}/executions${options.wait === false ? '?wait=false' : ''}`, {
    token: caller.token,
    body: options.body,
    headers: options.headers,
  });

const executionView = async (app: InProcessApp, caller: Caller, executionId: string) => {
  const reply = await app.request('GET', `/v1/executions/${executionId}`, { token: caller.token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body as { status: string; reason: string | null; exitCode: number | null; stdout: string; lateResults: { type: string }[] };
};

const untilStatus = (app: InProcessApp, caller: Caller, executionId: string, status: string) =>
  eventually(`${executionId} ${status}`, 3_000, async () => ((await executionView(app, caller, executionId)).status === status ? true : undefined), 10);

/** The leases a slot stream holds now: its last event's `active`, as the slot decider reads it. */
const leases = async (app: InProcessApp, stream: string): Promise<Lease[]> => {
  const [last] = await app.stored.readStream(stream, { direction: 'backwards', maxCount: 1 });
  return last === undefined ? [] : (last.data as { active: Lease[] }).active;
};

const untilFree = (app: InProcessApp, stream: string) =>
  eventually(`${stream} free`, 3_000, async () => ((await leases(app, stream)).length === 0 ? true : undefined), 10);

/** The executions the store holds, in the order they were queued. */
const queuedIds = async (app: InProcessApp) =>
  (await app.stored.readAll()).filter((event) => event.type === 'ExecutionQueued').map((event) => (event.data as { executionId: string }).executionId);

const typesOf = async (app: InProcessApp, executionId: string) => (await app.events(executionStream(executionId))).map((event) => event.type);

/** One sample of a Prometheus text exposition; 0 when the series is absent. */
const sample = async (app: InProcessApp, series: string) => {
  const text = (await app.request('GET', '/metrics')).body as string;
  const line = text.split('\n').find((each) => each.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
};

const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

executions('stdin in, stdout out: 200 succeeded, the same when read back, and listed in the history', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const reply = await execute(app, caller, { body: 'hello, faasbox' });
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.is(reply.body.status, 'succeeded');
    assert.is(reply.body.exitCode, 0);
    assert.is(reply.body.stdout, 'hello, faasbox');
    assert.is(reply.headers.get('location'), `/v1/executions/${reply.body.executionId}`);
    assert.equal(await executionView(app, caller, reply.body.executionId), reply.body);
    const history = await app.request('GET', `/v1/functions/${caller.functionId}/executions`, { token: caller.token });
    assert.equal(history.body.executions.map((e: { executionId: string; status: string }) => [e.executionId, e.status]), [[reply.body.executionId, 'succeeded']]);
    assert.equal(await leases(app, userSlotsStream(caller.id)), []);
  });
});

executions('what the worker reports is the answer: exit codes, out of memory, platform failures, truncation, timeouts', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(
      IMAGE,
      { kind: 'exit', exitCode: 3, stdout: '', stderr: 'boom' },
      { kind: 'exit', exitCode: 137, oomKilled: true },
      { kind: 'fail', reason: 'image not found: registry.test/scripted:1', started: false },
      { kind: 'fail', reason: 'the engine lost the container', started: true },
      { kind: 'exit', stdout: 'cut here', truncated: true },
      { kind: 'timeOut', stdout: 'partial' },
    );
    const replies: Reply[] = [];
    for (let n = 0; n < 6; n++) replies.push(await execute(app, caller, { body: `run ${n}` }));
    const summary = replies.map(({ status, body }) => [status, body.status, body.exitCode, body.reason, body.stdout, body.stderr, body.truncated]);
    assert.equal(summary, [
      [200, 'failed', 3, 'exited with code 3', '', 'boom', false],
      [200, 'failed', 137, `out of memory: the function exceeded its ${app.deps.config.functionLimits.defaultMemoryMb} MB`, 'run 1', '', false],
      [200, 'failed', null, 'image not found: registry.test/scripted:1', '', '', false],
      [200, 'failed', null, 'the engine lost the container', '', '', false],
      [200, 'succeeded', 0, null, 'cut here', '', true],
      [504, 'timedOut', null, null, 'partial', '', false],
    ]);
    assert.is(replies[2]!.body.startedAt, null, 'never started');
    assert.equal(await leases(app, userSlotsStream(caller.id)), [], 'every outcome gave its slot back');
    assert.is(await sample(app, 'faasbox_executions_total{outcome="failed"}'), 4);
    assert.is(await sample(app, 'faasbox_executions_total{outcome="succeeded"}'), 1);
    assert.is(await sample(app, 'faasbox_executions_total{outcome="timedOut"}'), 1);
  });
});

executions('?wait=false: 202 queued at once, and the execution is polled to its outcome', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const queued = await execute(app, caller, { wait: false, body: 'later' });
    assert.is(queued.status, 202, JSON.stringify(queued.body));
    assert.equal(queued.body, { executionId: queued.body.executionId, status: 'queued' });
    assert.is(queued.headers.get('location'), `/v1/executions/${queued.body.executionId}`);
    const run = await app.runtime.reached('running', queued.body.executionId);
    await untilStatus(app, caller, queued.body.executionId, 'running');
    run.finish();
    await untilStatus(app, caller, queued.body.executionId, 'succeeded');
    assert.is((await executionView(app, caller, queued.body.executionId)).stdout, 'later');
  });
});

executions('six at once over a limit of two: two accepted, four 429 with Retry-After; no slot stream event ever holds three', async () => {
  await withApp(withExecutions({ maxActivePerUser: 2 }), async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
    // In one process the six reservations take their turns on the slot stream (handleCommand);
    // across processes they race on its revision (reliability/races).
    const replies = await Promise.all(Array.from({ length: 6 }, () => execute(app, caller, { wait: false })));

    assert.equal(replies.map((reply) => reply.status).sort(), [202, 202, 429, 429, 429, 429]);
    for (const refused of replies.filter((reply) => reply.status === 429)) {
      assertProblem(refused, 429);
      assert.is(refused.headers.get('retry-after'), '1');
    }
    const stream = userSlotsStream(caller.id);
    const held = (await app.events(stream)).map((event) => (event.data as { active: Lease[] }).active.length);
    assert.ok(held.every((n) => n <= 2), `active after each slot event: ${held}`);
    const accepted = replies.filter((reply) => reply.status === 202).map((reply) => reply.body.executionId as string);
    assert.equal((await queuedIds(app)).sort(), [...accepted].sort(), 'a refused request queues nothing');
    assert.equal((await leases(app, stream)).map((lease) => lease.executionId).sort(), [...accepted].sort());

    // One ends: its slot is free, and the next request takes it.
    (await app.runtime.reached('running', accepted[0])).finish();
    await untilStatus(app, caller, accepted[0]!, 'succeeded');
    assert.is((await leases(app, stream)).length, 1);
    assert.is((await execute(app, caller, { wait: false })).status, 202);
    assertProblem(await execute(app, caller, { wait: false }), 429);
  });
});

executions('thirty-two at once of one user under a limit of 64: all accepted; in one process the slot stream takes them in turn, no conflict', async () => {
  await withApp(withExecutions({ maxActivePerUser: 64 }), async (app) => {
    const caller = await callerWithFunction(app);
    const replies = await Promise.all(Array.from({ length: 32 }, () => execute(app, caller, { wait: false })));
    assert.equal([...new Set(replies.map((reply) => reply.status))], [202]);
    const stream = userSlotsStream(caller.id);
    assert.is(app.store.conflicts.get(stream) ?? 0, 0);
    assert.is((await app.events(stream)).length >= 32, true);
  });
});

executions("over the global cap: 429, and the caller's own slot, taken first, is given back", async () => {
  await withApp(withExecutions({ maxActivePerUser: 4, maxActive: 1 }), async (app) => {
    const first = await callerWithFunction(app);
    const second = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const running = await execute(app, first, { wait: false });
    assert.is(running.status, 202);

    const refused = await execute(app, second, { wait: false });
    assertProblem(refused, 429);
    assert.is(refused.body.detail, 'the platform is running as many executions as it allows');
    assert.is(refused.headers.get('retry-after'), '1');
    assert.equal((await app.events(userSlotsStream(second.id))).map((event) => event.type), ['SlotReserved', 'SlotReleased']);
    assert.equal(await leases(app, userSlotsStream(second.id)), []);
    assert.equal((await leases(app, GLOBAL_SLOTS_STREAM)).map((lease) => lease.executionId), [running.body.executionId]);

    (await app.runtime.reached('running', running.body.executionId)).finish();
    await untilFree(app, GLOBAL_SLOTS_STREAM);
    const now = await execute(app, second);
    assert.is(now.status, 200, JSON.stringify(now.body));
    assert.equal(await leases(app, GLOBAL_SLOTS_STREAM), []);
  });
});

executions('the bus is down: 503 with Retry-After, the execution recorded failed with the reason, its slot free again', async () => {
  await withApp(withExecutions({ maxActivePerUser: 1 }), async (app) => {
    const caller = await callerWithFunction(app);
    // Publishing the job, with and without a waiting request, and opening the watch of one.
    const faults = [
      { wait: true, arm: () => app.bus.beforePublishJob(busDown) },
      { wait: false, arm: () => app.bus.beforePublishJob(busDown) },
      { wait: true, arm: () => app.bus.beforeWatch(busDown) },
    ];
    for (const { wait, arm } of faults) {
      arm();
      const reply = await execute(app, caller, { wait });
      assertProblem(reply, 503);
      assert.is(reply.headers.get('retry-after'), '5');
      const executionId = (await queuedIds(app)).at(-1)!;
      const view = await executionView(app, caller, executionId);
      assert.equal([view.status, view.reason], ['failed', 'the job queue is unavailable'], `wait=${wait}`);
      assert.equal(await leases(app, userSlotsStream(caller.id)), [], `wait=${wait}: the one slot is free`);
    }
    assert.is(await app.bus.pendingJobs(), 0);
    assert.is(app.runtime.runs.length, 0, 'no job reached a worker');
    const after = await execute(app, caller, { body: 'the bus is back' });
    assert.is(after.status, 200, JSON.stringify(after.body));
    assert.is(after.body.stdout, 'the bus is back');
  });
});

executions('a publish that fails for another reason: 500, the execution stays queued until the sweeper fails it and frees the slot', async () => {
  await withApp(withExecutions({ maxActivePerUser: 1 }), async (app) => {
    const caller = await callerWithFunction(app);
    // Not known to be down: the job may be durable after all, so nothing is undone at once.
    app.bus.beforePublishJob(() => {
      throw new Error('connection reset while publishing');
    });
    assertProblem(await execute(app, caller), 500);
    const [executionId] = await queuedIds(app);
    assert.is((await executionView(app, caller, executionId!)).status, 'queued');
    assertProblem(await execute(app, caller, { wait: false }), 429);

    app.clock.advance(caller.timeoutMs + app.deps.config.executions.graceMs + 1);
    assert.is(await app.sweepDeadlines(), 1);
    const view = await executionView(app, caller, executionId!);
    assert.equal([view.status, view.reason], ['failed', NO_WORKER_REASON]);
    assert.equal(await leases(app, userSlotsStream(caller.id)), []);
    assert.is((await execute(app, caller)).status, 200);
  });
});

executions('the waiting request and the recorder both record the outcome: one event each, ids derived from the fact, the request id in every one', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const correlationId = 'app-test-request-1';
    const reply = await execute(app, caller, { headers: { 'x-request-id': correlationId } });
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    const { executionId } = reply.body;
    // The recorder hears the same statuses the waiting request did; give it the time to record them.
    await quiet(100);
    const events = await app.events(executionStream(executionId));
    assert.equal(events.map((event) => event.type), ['ExecutionQueued', 'ExecutionStarted', 'ExecutionSucceeded']);
    assert.equal(events.slice(1).map((event) => event.id), [
      await deterministicEventId(executionId, 'STARTED'),
      await deterministicEventId(executionId, 'SUCCEEDED'),
    ]);
    const slotEvents = (await app.events(userSlotsStream(caller.id))).filter((event) => (event.data as { executionId: string }).executionId === executionId);
    assert.equal(slotEvents.map((event) => event.type), ['SlotReserved', 'SlotReleased']);
    for (const event of [...events, ...slotEvents]) assert.is(event.metadata.correlationId, correlationId, event.type);
  });
});

executions('a status delivered again after the recorder failed half-way: no second event, and the slot freed on the retry', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const queued = await execute(app, caller, { wait: false });
    const run = await app.runtime.reached('running', queued.body.executionId);
    await untilStatus(app, caller, queued.body.executionId, 'running');
    // The outcome is appended, then freeing the slot fails: the recorder throws, the bus redelivers.
    app.store.beforeRead('slots-', () => {
      throw new Error('the store hiccupped');
    });
    run.finish();
    await untilFree(app, userSlotsStream(caller.id));
    assert.equal(await typesOf(app, queued.body.executionId), ['ExecutionQueued', 'ExecutionStarted', 'ExecutionSucceeded']);
    assert.is(await sample(app, 'faasbox_executions_total{outcome="succeeded"}'), 1);
  });
});

executions('a result after the timeout is recorded as late, never as a second outcome', async () => {
  const graceMs = 200;
  await withApp(withExecutions({ graceMs }), async (app) => {
    const caller = await callerWithFunction(app, { timeoutMs: 100 });
    app.runtime.script(IMAGE, { kind: 'hang' });
    // The waiting request's deadline runs in real time from the clock's now: make them one.
    app.clock.set(new Date());
    const reply = await execute(app, caller, { body: 'too slow' });
    assert.is(reply.status, 504, JSON.stringify(reply.body));
    assert.is(reply.body.status, 'timedOut');
    assert.type(reply.body.startedAt, 'string');
    const { executionId } = reply.body;
    await untilFree(app, userSlotsStream(caller.id));

    app.runtime.runs[0]!.finish({ stdout: 'finally' });
    await eventually('the late result', 3_000, async () => ((await executionView(app, caller, executionId)).lateResults.length > 0 ? true : undefined), 10);
    const view = await executionView(app, caller, executionId);
    assert.equal([view.status, view.exitCode, view.stdout], ['timedOut', null, '']);
    assert.equal(view.lateResults, [{ type: 'SUCCEEDED', at: app.clock.now().toISOString() }]);
    assert.equal(await typesOf(app, executionId), ['ExecutionQueued', 'ExecutionStarted', 'ExecutionTimedOut', 'ExecutionSucceeded']);
    const history = await app.request('GET', `/v1/functions/${caller.functionId}/executions`, { token: caller.token });
    assert.is(history.body.executions[0].status, 'timedOut');
    assert.is(await sample(app, 'faasbox_executions_total{outcome="timedOut"}'), 1);
    assert.is(await sample(app, 'faasbox_executions_total{outcome="succeeded"}'), 0);
  });
});

executions("a late result delivered twice is one late result, and its phases count once", async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const queued = await execute(app, caller, { wait: false });
    const { executionId } = queued.body;
    const run = await app.runtime.reached('running', executionId);
    await untilStatus(app, caller, executionId, 'running');
    app.clock.advance(caller.timeoutMs + app.deps.config.executions.graceMs + 1);
    assert.is(await app.sweepDeadlines(), 1);
    assert.is((await executionView(app, caller, executionId)).status, 'timedOut');
    assert.equal(await leases(app, userSlotsStream(caller.id)), []);

    // The late result is appended, then the recorder fails (freeing the slot): the bus redelivers it.
    let redelivered!: () => void;
    const again = new Promise<void>((resolve) => (redelivered = resolve));
    app.store.beforeRead('slots-', () => {
      throw new Error('the store hiccupped');
    });
    app.store.beforeRead('slots-', () => redelivered());
    run.finish();
    await again;
    await quiet(20);
    assert.equal((await executionView(app, caller, executionId)).lateResults.map((late) => late.type), ['SUCCEEDED']);
    // Nobody waited for it, so it ended on the dead-letter list; the late result changes none of that.
    assert.equal(await typesOf(app, executionId), ['ExecutionQueued', 'ExecutionStarted', 'ExecutionTimedOut', 'ExecutionDeadLettered', 'ExecutionSucceeded']);
    assert.is(await sample(app, 'faasbox_execution_phase_duration_seconds_count{phase="run"}'), 1);
  });
});

executions("the platform's deadline sweeper ends what no worker answers for: running → timedOut, queued → failed; both slots freed", async () => {
  // One container at a time: the second job waits behind a first that never ends.
  await withApp(withExecutions({ maxActivePerUser: 4 }, { concurrency: 1 }), async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const running = (await execute(app, caller, { wait: false })).body.executionId as string;
    const waiting = (await execute(app, caller, { wait: false })).body.executionId as string;
    await untilStatus(app, caller, running, 'running');
    assert.is(await app.bus.pendingJobs(), 1);

    app.clock.advance(caller.timeoutMs + app.deps.config.executions.graceMs + 1);
    await untilStatus(app, caller, running, 'timedOut');
    await untilStatus(app, caller, waiting, 'failed');
    assert.is((await executionView(app, caller, waiting)).reason, NO_WORKER_REASON);
    await untilFree(app, userSlotsStream(caller.id));

    // The worker frees up at last: the expired job is dropped, never run; the first one's result is late.
    app.runtime.runs[0]!.finish();
    await eventually('the expired job taken', 3_000, async () => ((await app.bus.pendingJobs()) === 0 ? true : undefined), 10);
    await eventually('the late result', 3_000, async () => ((await executionView(app, caller, running)).lateResults.length > 0 ? true : undefined), 10);
    assert.equal(app.runtime.runs.map((run) => run.executionId), [running]);
    assert.equal(await typesOf(app, waiting), ['ExecutionQueued', 'ExecutionFailed', 'ExecutionDeadLettered']);
  });
});

executions('a waiting request whose job no worker takes: failed (no worker) at the deadline', async () => {
  await withApp(withExecutions({ graceMs: 200 }, false), async (app) => {
    const caller = await callerWithFunction(app, { timeoutMs: 100 });
    app.clock.set(new Date());
    const reply = await execute(app, caller);
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.equal([reply.body.status, reply.body.reason, reply.body.startedAt], ['failed', NO_WORKER_REASON, null]);
    assert.equal(await leases(app, userSlotsStream(caller.id)), []);
  });
});

executions('a status for an execution this store never queued is dropped, not redelivered for ever; the next is recorded', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const stranger = crypto.randomUUID();
    let reads = 0;
    app.store.beforeRead(executionStream(stranger), () => reads++, Number.POSITIVE_INFINITY);
    // A container of another deployment on a shared engine reports in.
    await app.bus.publishStatus({ type: 'succeeded', executionId: stranger, at: app.clock.now().toISOString(), exitCode: 0, stdout: '', stderr: '', truncated: false, durationMs: 1 });
    const queued = await execute(app, caller, { wait: false, body: 'after the stranger' });
    await untilStatus(app, caller, queued.body.executionId, 'succeeded');
    await quiet(300); // past the first redelivery back-off (250 ms)
    assert.is(reads, 1, 'read once, then dropped');
    assert.equal(await app.events(executionStream(stranger)), []);
  });
});

executions("another user's execution: 403; an unknown one and a malformed id: 404", async () => {
  await withApp({}, async (app) => {
    const owner = await callerWithFunction(app);
    const stranger = await callerWithFunction(app);
    const done = await execute(app, owner);
    assert.is(done.status, 200);
    assertProblem(await app.request('GET', `/v1/executions/${done.body.executionId}`, { token: stranger.token }), 403);
    assertProblem(await app.request('GET', `/v1/executions/${crypto.randomUUID()}`, { token: owner.token }), 404);
    assertProblem(await app.request('GET', '/v1/executions/not-a-uuid', { token: owner.token }), 404);
    assertProblem(await app.request('GET', `/v1/executions/${done.body.executionId}`), 401);
  });
});

executions.run();
