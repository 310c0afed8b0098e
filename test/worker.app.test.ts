/**
 * The worker in process (worker/worker.ts) over a scripted runtime, with the api around it:
 * draining at shutdown, handing back what has not started, killing what outlives the drain,
 * at most once for what did start, jobs past their deadline, flow control, a bus outage.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_WORKER_REASON } from '../actors/execution.ts';
import { executionStream, userSlotsStream } from '../src/domain/streams.ts';
import type { StatusMessage } from '../src/ports/job-bus.ts';
import { SHUTDOWN_REASON } from '../worker/worker.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually, within } from './support/eventually.ts';
import { busDown } from './support/faults.ts';
import { IMAGE, type InProcessApp, type InProcessAppOptions, withApp } from './support/in-process-app.ts';

const worker = suite('worker [app in process]');

type Caller = SignedUp & { functionId: string; timeoutMs: number };

async function callerWithFunction(app: InProcessApp): Promise<Caller> {
  const user = await signUp(app.request);
  const fn = await createFunction(app.request, user.token, { image: IMAGE });
  return { ...user, functionId: fn.id, timeoutMs: fn.timeoutMs };
}

const execute = (app: InProcessApp, caller: Caller, options: { wait?: boolean; body?: string } = {}) =>
  app.request('POST', `/v1/functions/${caller.functionId}/executions${options.wait === false ? '?wait=false' : ''}`, {
    token: caller.token,
    body: options.body,
  });

const queue = async (app: InProcessApp, caller: Caller, body?: string) => {
  const reply = await execute(app, caller, { wait: false, body });
  assert.is(reply.status, 202, JSON.stringify(reply.body));
  return reply.body.executionId as string;
};

const viewOf = async (app: InProcessApp, caller: Caller, executionId: string) =>
  (await app.request('GET', `/v1/executions/${executionId}`, { token: caller.token })).body as {
    status: string;
    reason: string | null;
    stdout: string;
  };

const untilStatus = (app: InProcessApp, caller: Caller, executionId: string, status: string) =>
  eventually(`${executionId} ${status}`, 3_000, async () => ((await viewOf(app, caller, executionId)).status === status ? true : undefined), 10);

const pending = (app: InProcessApp) => app.bus.pendingJobs();

const untilPending = (app: InProcessApp, count: number) =>
  eventually(`${count} job(s) pending`, 3_000, async () => ((await pending(app)) === count ? true : undefined), 10);

const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Longer than the bus's first redelivery back-off (250 ms): a job wrongly handed back shows up by then. */
const REDELIVERY_MS = 300;

/** A status's type, `+start` when a final one carries its start. */
const recordType = (into: string[]) => (status: StatusMessage) => into.push(status.type !== 'started' && status.started ? `${status.type}+start` : status.type);

const drainingFor = (drainTimeoutMs: number): InProcessAppOptions => ({ worker: { drainTimeoutMs } });

worker('stop() drains: the running execution finishes and is recorded first; no new job is taken meanwhile', async () => {
  await withApp(drainingFor(5_000), async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const running = await queue(app, caller, 'first');
    const run = await app.runtime.reached('running', running);

    let stopped = false;
    const stopping = app.worker!.stop().then(() => (stopped = true));
    const later = await queue(app, caller, 'second');
    await quiet(50);
    assert.is(stopped, false, 'the drain waits for the execution');
    assert.is(await pending(app), 1, 'the job queued during the drain is not taken');

    run.finish();
    await within(stopping, 2_000, 'the drain');
    // The outcome was published before stop() resolved: nothing is left for the worker to say.
    await untilStatus(app, caller, running, 'succeeded');
    assert.is((await viewOf(app, caller, later)).status, 'queued');
    assert.equal(app.runtime.runs.map((each) => each.executionId), [running]);

    app.startWorker();
    await untilStatus(app, caller, later, 'succeeded');
    assert.is((await viewOf(app, caller, later)).stdout, 'second');
  });
});

worker('past the drain timeout the worker kills what still runs: failed for the shutdown, the slot freed', async () => {
  await withApp(drainingFor(100), async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const answer = execute(app, caller);
    const run = await app.runtime.reached('running');
    await within(app.worker!.stop(), 2_000, 'the drain');

    const reply = await within(answer, 2_000, 'the waiting request');
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.equal([reply.body.status, reply.body.reason], ['failed', SHUTDOWN_REASON]);
    assert.equal(run.outcome, { kind: 'failed', reason: SHUTDOWN_REASON, started: true });
    assert.is(await pending(app), 0, 'a started job is never handed back');
    await eventually('the slot freed', 2_000, async () => {
      const [last] = await app.stored.readStream(userSlotsStream(caller.id), { direction: 'backwards', maxCount: 1 });
      return (last?.data as { active: unknown[] }).active.length === 0 ? true : undefined;
    });
  });
});

worker('hand-back: a job not started when the drain ends goes back to the bus; another worker runs it, once', async () => {
  await withApp(drainingFor(50), async (app) => {
    const caller = await callerWithFunction(app);
    // The first run is stuck before its container starts (a slow pull); the next one runs.
    app.runtime.script(IMAGE, { kind: 'hangBeforeStart' });
    const answer = execute(app, caller, { body: 'handed back' });
    await app.runtime.reached('starting');
    await within(app.worker!.stop(), 2_000, 'the drain');
    await untilPending(app, 1);

    app.startWorker();
    const reply = await within(answer, 3_000, 'the waiting request');
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.equal([reply.body.status, reply.body.stdout], ['succeeded', 'handed back']);
    const { executionId } = reply.body;
    const events = await app.events(executionStream(executionId));
    assert.equal(events.map((event) => event.type), ['ExecutionQueued', 'ExecutionStarted', 'ExecutionSucceeded']);
    assert.is((events[1]!.data as { workerId: string }).workerId, 'worker-2');
    assert.equal(
      app.runtime.runs.map((run) => [run.executionId, run.outcome && 'kind' in run.outcome ? run.outcome.kind : run.outcome]),
      [
        [executionId, 'failed'],
        [executionId, 'exited'],
      ],
    );
  });
});

worker('a job whose deadline passed before any worker took it is dropped, never run; the sweeper fails it', async () => {
  await withApp({ worker: false }, async (app) => {
    const caller = await callerWithFunction(app);
    const executionId = await queue(app, caller);
    app.clock.advance(caller.timeoutMs + app.deps.config.executions.graceMs + 1);
    app.startWorker();
    await untilPending(app, 0);
    assert.is(await app.sweepDeadlines(), 1);
    const view = await viewOf(app, caller, executionId);
    assert.equal([view.status, view.reason], ['failed', NO_WORKER_REASON]);
    await quiet(REDELIVERY_MS);
    assert.equal(app.runtime.runs, [], 'user code never ran');
    assert.is(await pending(app), 0, 'acked, not handed back');
  });
});

worker('a platform failure before the start is final: reported failed, neither handed back nor run again', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'fail', reason: 'no such image', started: false });
    const reply = await execute(app, caller);
    assert.equal([reply.status, reply.body.status, reply.body.reason], [200, 'failed', 'no such image']);
    await quiet(REDELIVERY_MS);
    assert.is(app.runtime.runs.length, 1);
    assert.is(await pending(app), 0);
  });
});

worker('the runtime throws before the start: the job comes back and runs', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'throw', message: 'engine hiccup', afterStart: false });
    const reply = await within(execute(app, caller, { body: 'second try' }), 3_000, 'the execution');
    assert.equal([reply.status, reply.body.status, reply.body.stdout], [200, 'succeeded', 'second try']);
    assert.equal(app.runtime.runs.map((run) => run.outcome instanceof Error), [true, false]);
  });
});

worker('the runtime throws after the start: at most once, never run again; the deadline ends it', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'throw', message: 'lost track of the container', afterStart: true });
    const executionId = await queue(app, caller);
    await untilStatus(app, caller, executionId, 'running');
    await quiet(REDELIVERY_MS);
    assert.is(app.runtime.runs.length, 1, 'user code ran once');
    assert.is(await pending(app), 0);

    app.clock.advance(caller.timeoutMs + app.deps.config.executions.graceMs + 1);
    assert.is(await app.sweepDeadlines(), 1);
    assert.is((await viewOf(app, caller, executionId)).status, 'timedOut');
  });
});

worker('a worker takes no more jobs than its concurrency; a freed slot takes the next', async () => {
  await withApp({ worker: { concurrency: 2 } }, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
    const ids = [await queue(app, caller), await queue(app, caller), await queue(app, caller)];
    await app.runtime.reached('running', ids[1]);
    await quiet(50);
    assert.equal(app.runtime.runs.map((run) => run.executionId), ids.slice(0, 2));
    assert.is(await pending(app), 1);
    assert.is(app.worker!.inFlight, 2);

    app.runtime.runs[0]!.finish();
    await app.runtime.reached('running', ids[2]);
    await untilStatus(app, caller, ids[0]!, 'succeeded');
    assert.is(await pending(app), 0);
  });
});

worker('statuses outlive a bus outage: the worker publishes again until the bus takes them', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.bus.beforePublishStatus(busDown);
    const reply = await within(execute(app, caller, { body: 'through the outage' }), 3_000, 'the execution');
    assert.equal([reply.status, reply.body.status, reply.body.stdout], [200, 'succeeded', 'through the outage']);
    assert.type(reply.body.startedAt, 'string', 'the start, whose first publish failed, is recorded too');
  });
});

worker('a run that ends at once reports its start in its final status: one status, the start and the outcome in one append', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const statuses: string[] = [];
    const appends: string[][] = [];
    app.bus.beforePublishStatus(recordType(statuses), Infinity);
    app.store.beforeAppend('execution-', (_stream, events) => appends.push(events.map((event) => event.type)), Infinity);
    const reply = await execute(app, caller);
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    await quiet(50);
    assert.equal(statuses, ['succeeded+start']);
    assert.equal(appends, [['ExecutionQueued'], ['ExecutionStarted', 'ExecutionSucceeded']], 'the waiting request and the recorder append once between them');
    const started = (await app.events(executionStream(reply.body.executionId))).find((event) => event.type === 'ExecutionStarted');
    assert.equal((started?.data as { workerId: string }).workerId, 'worker-1');
  });
});

worker('a run that lasts reports its start while it runs, then its outcome', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const statuses: string[] = [];
    app.bus.beforePublishStatus(recordType(statuses), Infinity);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const executionId = await queue(app, caller);
    const run = await app.runtime.reached('running', executionId);
    await untilStatus(app, caller, executionId, 'running');
    run.finish();
    await untilStatus(app, caller, executionId, 'succeeded');
    assert.equal(statuses, ['started', 'succeeded']);
  });
});

worker("a host that cannot run anything (its engine gone) hands the job back: another worker runs it, else it fails at its last delivery, saying why", async () => {
  const ENGINE_DOWN = { kind: 'fail', reason: 'container engine unavailable: connect ENOENT /run/docker.sock', started: false, hostFault: true } as const;
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, ENGINE_DOWN);
    app.startWorker();
    const reply = await execute(app, caller, { body: 'elsewhere' });
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.equal([reply.body.status, reply.body.stdout], ['succeeded', 'elsewhere']);
    assert.is(app.runtime.runs.length, 2);
    assert.ok(app.logs.some((line) => line.message === 'job handed back: this worker cannot run it now'));
  });
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, ENGINE_DOWN, ENGINE_DOWN, ENGINE_DOWN, ENGINE_DOWN, ENGINE_DOWN);
    const reply = await within(execute(app, caller), 10_000, 'the answer');
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.equal([reply.body.status, reply.body.reason], ['failed', ENGINE_DOWN.reason]);
    assert.is(app.runtime.runs.length, 4, 'handed back three times, failed at the fourth delivery');
  });
});

worker.run();
