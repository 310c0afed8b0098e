/**
 * Idempotency-Key on POST /v1/functions/:id/executions, in process over a scripted runtime:
 * a repeat answers with the first request's execution and never starts a second, whatever the
 * timing (at once, while it runs, after it ended, after a refusal), per user, for a day.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config } from '../src/config-type.ts';
import { idempotencyKeyStream, userSlotsStream } from '../src/domain/streams.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { busDown } from './support/faults.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, type InProcessAppOptions, withApp } from './support/in-process-app.ts';

const idempotency = suite('idempotency keys [app in process]');

type Caller = SignedUp & { functionId: string };

async function callerWithFunction(app: InProcessApp): Promise<Caller> {
  const user = await signUp(app.request);
  const fn = await createFunction(app.request, user.token, { image: IMAGE });
  return { ...user, functionId: fn.id };
}

const execute = (app: InProcessApp, caller: Caller, key: string | undefined, options: { body?: string; wait?: boolean; functionId?: string } = {}) =>
  app.request('POST', `/v1/functions/${options.functionId ?? caller.functionId}/executions${options.wait === false ? '?wait=false' : ''}`, {
    token: caller.token,
    body: options.body ?? 'hello',
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });

const runsOf = (app: InProcessApp, executionId: string) => app.runtime.runs.filter((run) => run.executionId === executionId).length;

const withLimit = (maxActivePerUser: number): InProcessAppOptions => ({
  config: (config: Config & { jwtSecret: string }) => ({ ...config, executions: { ...config.executions, maxActivePerUser } }),
});

idempotency('the same key again: the same execution, marked replayed, run once', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const first = await execute(app, caller, 'order-1');
    assert.is(first.status, 200, JSON.stringify(first.body));
    assert.is(first.headers.get('idempotent-replayed'), null);
    const again = await execute(app, caller, 'order-1');
    assert.is(again.status, 200, JSON.stringify(again.body));
    assert.is(again.headers.get('idempotent-replayed'), 'true');
    assert.is(again.headers.get('location'), `/v1/executions/${first.body.executionId}`);
    assert.equal(again.body, first.body);
    assert.is(app.runtime.runs.length, 1);
    // The IETF draft's form, a quoted string, is the same key.
    assert.is((await execute(app, caller, '"order-1"')).body.executionId, first.body.executionId);
    // No key, or another key: a new execution each time.
    assert.is.not((await execute(app, caller, undefined)).body.executionId, first.body.executionId);
    assert.is.not((await execute(app, caller, 'order-2')).body.executionId, first.body.executionId);
    assert.is(app.runtime.runs.length, 3);
  });
});

idempotency('eight requests with one key at once: one execution, one claim, every answer its outcome', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const replies = await Promise.all(Array.from({ length: 8 }, () => execute(app, caller, 'burst')));
    const ids = new Set(replies.map((reply) => reply.body.executionId));
    assert.is(ids.size, 1, JSON.stringify(replies.map((reply) => [reply.status, reply.body])));
    for (const reply of replies) assert.equal([reply.status, reply.body.status], [200, 'succeeded']);
    assert.is(replies.filter((reply) => reply.headers.get('idempotent-replayed') === null).length, 1);
    assert.is(app.runtime.runs.length, 1);
    const claims = await app.events(await idempotencyKeyStream(caller.id, 'burst'));
    assert.equal(claims.map((event) => event.type), ['IdempotencyKeyClaimed']);
  });
});

idempotency('the request that claimed the key, overtaken while queuing by a repeat that queued it: both answer with the one execution', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The claimer's ExecutionQueued waits; the repeat finds the key claimed and nothing queued.
    app.store.beforeAppend('execution-', () => held);
    const first = execute(app, caller, 'overtaken');
    const claimStream = await idempotencyKeyStream(caller.id, 'overtaken');
    await eventually('the key claimed', 3_000, async () => ((await app.events(claimStream)).length === 1 ? true : undefined), 10);
    const second = await execute(app, caller, 'overtaken');
    release();
    const overtaken = await first;
    assert.equal([second.status, second.headers.get('idempotent-replayed')], [200, null], JSON.stringify(second.body));
    assert.equal([overtaken.status, overtaken.headers.get('idempotent-replayed')], [200, 'true'], JSON.stringify(overtaken.body));
    assert.is(overtaken.body.executionId, second.body.executionId);
    assert.is(app.runtime.runs.length, 1);
  });
});

idempotency('the same key for another body or another function: 422, and nothing runs', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const other = await createFunction(app.request, caller.token, { image: IMAGE, name: 'other' });
    assert.is((await execute(app, caller, 'k')).status, 200);
    const otherBody = await execute(app, caller, 'k', { body: 'something else' });
    assertProblem(otherBody, 422);
    assert.match(otherBody.body.type, /idempotency-key-reused/);
    assertProblem(await execute(app, caller, 'k', { functionId: other.id }), 422);
    assert.is(app.runtime.runs.length, 1);
  });
});

idempotency("keys are per user: another user's same key is another execution", async () => {
  await withApp({}, async (app) => {
    const alice = await callerWithFunction(app);
    const bob = await callerWithFunction(app);
    const a = await execute(app, alice, 'shared');
    const b = await execute(app, bob, 'shared');
    assert.equal([a.status, b.status], [200, 200]);
    assert.is.not(a.body.executionId, b.body.executionId);
    assert.is(b.headers.get('idempotent-replayed'), null);
  });
});

idempotency('queued without waiting, then repeated: as it is now (running) without waiting, its outcome when waiting', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const queued = await execute(app, caller, 'slow', { wait: false });
    assert.is(queued.status, 202, JSON.stringify(queued.body));
    const { executionId } = queued.body;
    const run = await app.runtime.reached('running', executionId);
    await eventually('running', 3_000, async () => ((await execute(app, caller, 'slow', { wait: false })).body.status === 'running' ? true : undefined), 10);
    const now = await execute(app, caller, 'slow', { wait: false });
    assert.equal([now.status, now.body.executionId, now.headers.get('idempotent-replayed')], [200, executionId, 'true']);
    const waiting = execute(app, caller, 'slow');
    await new Promise((resolve) => setTimeout(resolve, 50));
    run.finish({ stdout: 'done' });
    const outcome = await waiting;
    assert.equal([outcome.status, outcome.body.executionId, outcome.body.status, outcome.body.stdout], [200, executionId, 'succeeded', 'done']);
    assert.is(runsOf(app, executionId), 1);
  });
});

idempotency('a repeat that waits while the bus cannot open its watch: the outcome, read from the store', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const queued = await execute(app, caller, 'no-watch', { wait: false });
    const run = await app.runtime.reached('running', queued.body.executionId);
    app.bus.beforeWatch(busDown);
    const waiting = execute(app, caller, 'no-watch');
    await new Promise((resolve) => setTimeout(resolve, 50));
    run.finish({ stdout: 'seen anyway' });
    const outcome = await waiting;
    assert.equal([outcome.status, outcome.body.executionId, outcome.body.stdout], [200, queued.body.executionId, 'seen anyway']);
  });
});

idempotency('refused at the limit (429), then retried with the key once a slot is free: it runs, once', async () => {
  await withApp(withLimit(1), async (app) => {
    const caller = await callerWithFunction(app);
    app.runtime.script(IMAGE, { kind: 'hang' });
    const busy = await execute(app, caller, undefined, { wait: false });
    const run = await app.runtime.reached('running', busy.body.executionId);
    assertProblem(await execute(app, caller, 'after-429'), 429);
    run.finish();
    await eventually('slot free', 3_000, async () => {
      const [last] = await app.stored.readStream(userSlotsStream(caller.id), { direction: 'backwards', maxCount: 1 });
      return (last?.data as { active: unknown[] }).active.length === 0 ? true : undefined;
    }, 10);
    const retried = await execute(app, caller, 'after-429');
    assert.is(retried.status, 200, JSON.stringify(retried.body));
    const again = await execute(app, caller, 'after-429');
    assert.equal([again.body.executionId, again.headers.get('idempotent-replayed')], [retried.body.executionId, 'true']);
    assert.is(runsOf(app, retried.body.executionId), 1);
  });
});

idempotency('the job queue down (503), then retried with the key: the recorded failure again, never a second start', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    let published = 0;
    app.bus.beforePublishJob(() => {
      published += 1;
      busDown();
    });
    assertProblem(await execute(app, caller, 'during-outage'), 503);
    const retried = await execute(app, caller, 'during-outage');
    assert.equal([retried.status, retried.body.status, retried.body.reason], [200, 'failed', 'the job queue is unavailable']);
    assert.is(retried.headers.get('idempotent-replayed'), 'true');
    assert.is(published, 1);
    assert.is(app.runtime.runs.length, 0);
  });
});

idempotency('a key names its execution for 24 hours: after them, the same key starts another', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const first = await execute(app, caller, 'daily');
    app.clock.advance(24 * 60 * 60 * 1000 - 1);
    assert.is((await execute(app, caller, 'daily')).body.executionId, first.body.executionId);
    app.clock.advance(1);
    const next = await execute(app, caller, 'daily', { body: 'another body is fine now' });
    assert.is(next.status, 200, JSON.stringify(next.body));
    assert.is.not(next.body.executionId, first.body.executionId);
    assert.is(next.headers.get('idempotent-replayed'), null);
  });
});

idempotency('a key that is empty, too long or not printable ASCII: 400 naming the header, and nothing runs', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    for (const key of ['', 'x'.repeat(256), 'tab\there', 'caf\u00e9']) {
      const reply = await execute(app, caller, key).catch((error: unknown) => ({ status: 0, error }));
      // Headers() refuses some bytes before any request is made: that is refused too.
      if (reply.status === 0) continue;
      assertProblem(reply as Awaited<ReturnType<typeof execute>>, 400);
      assert.match(JSON.stringify((reply as { body: unknown }).body), /idempotency-key/);
    }
    assert.is((await execute(app, caller, 'x'.repeat(255))).status, 200);
    assert.is(app.runtime.runs.length, 1);
  });
});

idempotency.run();
