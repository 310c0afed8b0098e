/**
 * Functions in process: creating, reading and deleting through the app, with ownership, read
 * models read right after a write, and deletes that race (src/commands/create-function.ts,
 * delete-function.ts, src/http/routes/functions.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { functionStream } from '../src/domain/streams.ts';
import { createFunction, signUp } from './support/api.ts';
import { syncWarmTargets } from '../src/processes/warm-target-sync.ts';
import { barrier, busDown, conflict } from './support/faults.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, withApp } from './support/in-process-app.ts';

const functions = suite('functions [app in process]');

functions('a created function is listed and readable at once, with the defaults filled in', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const created = await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'hello', image: IMAGE, env: { GREETING: 'hi' } } });
    assert.is(created.status, 201, JSON.stringify(created.body));
    assert.is(created.headers.get('location'), `/v1/functions/${created.body.id}`);
    const { defaultTimeoutMs, defaultMemoryMb } = app.deps.config.functionLimits;
    assert.equal(created.body, {
      id: created.body.id,
      name: 'hello',
      image: IMAGE,
      imageDigest: app.images.current(IMAGE),
      command: null,
      env: { GREETING: 'hi' },
      secrets: {},
      timeoutMs: defaultTimeoutMs,
      memoryMb: defaultMemoryMb,
      minWarm: 0,
      reuse: false,
      retry: null,
      createdAt: app.clock.now().toISOString(),
      version: 1,
      versionCreatedAt: app.clock.now().toISOString(),
      rolledBackFrom: null,
    });
    // Read-your-writes: the list (a read model) shows it in the very next request.
    assert.equal((await app.request('GET', '/v1/functions', { token: user.token })).body.functions, [created.body]);
    assert.equal((await app.request('GET', `/v1/functions/${created.body.id}`, { token: user.token })).body, created.body);
  });
});

functions("another user's function: not listed, 403 to read, to delete and to execute; it stays", async () => {
  await withApp({ worker: false }, async (app) => {
    const owner = await signUp(app.request, { tag: 'owner' });
    const stranger = await signUp(app.request, { tag: 'stranger' });
    const fn = await createFunction(app.request, owner.token, { image: IMAGE });
    assert.equal((await app.request('GET', '/v1/functions', { token: stranger.token })).body.functions, []);
    assertProblem(await app.request('GET', `/v1/functions/${fn.id}`, { token: stranger.token }), 403);
    assertProblem(await app.request('DELETE', `/v1/functions/${fn.id}`, { token: stranger.token }), 403);
    assertProblem(await app.request('POST', `/v1/functions/${fn.id}/executions`, { token: stranger.token }), 403);
    assertProblem(await app.request('GET', `/v1/functions/${fn.id}/executions`, { token: stranger.token }), 403);
    assert.equal((await app.events(functionStream(fn.id))).map((event) => event.type), ['FunctionCreated']);
    assert.is((await app.request('GET', `/v1/functions/${fn.id}`, { token: owner.token })).status, 200);
  });
});

functions('an unknown id and one that is no UUID: 404 to read, to delete, to execute', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    for (const id of [crypto.randomUUID(), 'not-a-uuid']) {
      assertProblem(await app.request('GET', `/v1/functions/${id}`, { token: user.token }), 404);
      assertProblem(await app.request('DELETE', `/v1/functions/${id}`, { token: user.token }), 404);
      assertProblem(await app.request('POST', `/v1/functions/${id}/executions`, { token: user.token }), 404);
    }
  });
});

functions('a field out of range: 400 naming it, and nothing recorded', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const { maxTimeoutMs, maxMemoryMb, maxMinWarm } = app.deps.config.functionLimits;
    for (const [field, value] of [
      ['timeoutMs', maxTimeoutMs + 1],
      ['timeoutMs', 99],
      ['memoryMb', maxMemoryMb + 1],
      ['minWarm', maxMinWarm + 1],
      ['minWarm', -1],
      ['minWarm', 1.5],
      ['reuse', 'yes'],
      ['image', 'Not An Image!'],
    ] as const) {
      const reply = await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'bad', image: IMAGE, [field]: value } });
      assertProblem(reply, 400);
      assert.equal(reply.body.errors.map((error: { field: string }) => error.field), [field], JSON.stringify(reply.body));
    }
    assert.equal((await app.stored.readAll()).filter((event) => event.type === 'FunctionCreated'), []);
  });
});

functions('minWarm: the function keeps it, workers are told its warm target; deleting it or its owner takes the target away', async () => {
  await withApp({ worker: false }, async (app) => {
    const targets = new Map<string, number | null>();
    const watch = app.bus.watchWarmTargets((functionId, target) => targets.set(functionId, target?.minWarm ?? null));
    try {
      const user = await signUp(app.request);
      const warm = await createFunction(app.request, user.token, { image: IMAGE, command: ['cat'], env: { A: '1' }, minWarm: 2 });
      const plain = await createFunction(app.request, user.token, { image: IMAGE });
      assert.is(warm.minWarm, 2);
      assert.is((await app.request('GET', `/v1/functions/${warm.id}`, { token: user.token })).body.minWarm, 2);
      assert.equal([...targets], [[warm.id, 2]]);
      const other = await createFunction(app.request, user.token, { image: IMAGE, minWarm: 1 });
      assert.is((await app.request('DELETE', `/v1/functions/${warm.id}`, { token: user.token })).status, 200);
      assert.equal(targets.get(warm.id), null);
      assert.is((await app.request('DELETE', '/v1/users/me', { token: user.token })).status, 200);
      assert.equal(targets.get(other.id), null);
      assert.is(targets.has(plain.id), false);
      assert.equal(await app.bus.listWarmTargets(), []);
    } finally {
      await watch.stop();
    }
  });
});

functions('reuse: the function keeps it and its jobs ask for it; an operator who turned it off gets it refused, nothing recorded', async () => {
  await withApp({}, async (app) => {
    const user = await signUp(app.request);
    const reused = await createFunction(app.request, user.token, { image: IMAGE, command: ['cat'], reuse: true });
    const plain = await createFunction(app.request, user.token, { image: IMAGE });
    assert.equal([reused.reuse, plain.reuse], [true, false]);
    assert.is((await app.request('GET', `/v1/functions/${reused.id}`, { token: user.token })).body.reuse, true);
    for (const id of [reused.id, plain.id]) {
      assert.is((await app.request('POST', `/v1/functions/${id}/executions`, { token: user.token, body: 'x' })).status, 200);
    }
    assert.equal(app.runtime.runs.map((run) => run.reuse), [true, false]);
  });
  await withApp({ worker: false, config: (config) => ({ ...config, functionLimits: { ...config.functionLimits, reuseAllowed: false } }) }, async (app) => {
    const user = await signUp(app.request);
    const reply = await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'reused', image: IMAGE, reuse: true } });
    assertProblem(reply, 400);
    assert.equal(reply.body.errors.map((error: { field: string }) => error.field), ['reuse']);
    assert.match(JSON.stringify(reply.body), /FAASBOX_REUSE=off/);
    assert.is((await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'fresh', image: IMAGE, reuse: false } })).status, 201);
    assert.equal((await app.stored.readAll()).filter((event) => event.type === 'FunctionCreated').length, 1);
  });
});

functions('a warm target the bus could not take is set by the sync; one whose function is gone is removed', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const realSet = app.bus.setWarmTarget;
    app.bus.setWarmTarget = async () => busDown();
    const warm = await createFunction(app.request, user.token, { image: IMAGE, minWarm: 1 });
    app.bus.setWarmTarget = realSet;
    assert.equal(await app.bus.listWarmTargets(), [], 'not set while the bus was down');
    // A target left behind by a deletion that could not reach the bus.
    const gone = await createFunction(app.request, user.token, { image: IMAGE, minWarm: 1 });
    assert.is((await app.request('DELETE', `/v1/functions/${gone.id}`, { token: user.token })).status, 200);
    await app.bus.setWarmTarget(gone.id, { functionId: gone.id, ownerId: user.id, image: IMAGE, command: null, env: {}, memoryMb: 128, minWarm: 1 });
    assert.equal(await syncWarmTargets(app.deps), { set: 1, removed: 1 });
    assert.equal(await app.bus.listWarmTargets(), [warm.id]);
  });
});

functions('a conflict while creating is retried: 201, one function recorded', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    app.store.beforeAppend('function-', conflict);
    const fn = await createFunction(app.request, user.token, { image: IMAGE });
    assert.is(app.store.conflicts.get(functionStream(fn.id)), 1);
    assert.equal((await app.events(functionStream(fn.id))).map((event) => event.type), ['FunctionCreated']);
  });
});

functions('two deletes of one function at once: one 200, one 404, one FunctionDeleted', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const fn = await createFunction(app.request, user.token, { image: IMAGE });
    // Both read the function alive and append at the same revision: one must be decided again.
    app.store.beforeAppend('function-', barrier(2), 2);
    const replies = await Promise.all([1, 2].map(() => app.request('DELETE', `/v1/functions/${fn.id}`, { token: user.token })));
    assert.equal(replies.map((reply) => reply.status).sort(), [200, 404]);
    assertProblem(replies.find((reply) => reply.status === 404)!, 404);
    assert.is(app.store.conflicts.get(functionStream(fn.id)), 1);
    assert.equal((await app.events(functionStream(fn.id))).map((event) => event.type), ['FunctionCreated', 'FunctionDeleted']);
  });
});

functions('a deleted function: 404 to read, to delete again and to execute; gone from the list at once', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const kept = await createFunction(app.request, user.token, { name: 'kept', image: IMAGE });
    const fn = await createFunction(app.request, user.token, { name: 'doomed', image: IMAGE });
    assert.equal((await app.request('DELETE', `/v1/functions/${fn.id}`, { token: user.token })).body, { deleted: true });
    assert.equal((await app.request('GET', '/v1/functions', { token: user.token })).body.functions.map((f: { id: string }) => f.id), [kept.id]);
    assertProblem(await app.request('GET', `/v1/functions/${fn.id}`, { token: user.token }), 404);
    assertProblem(await app.request('DELETE', `/v1/functions/${fn.id}`, { token: user.token }), 404);
    assertProblem(await app.request('POST', `/v1/functions/${fn.id}/executions`, { token: user.token }), 404);
    assert.equal(await app.stored.readAll().then((events) => events.filter((event) => event.type === 'ExecutionQueued')), []);
  });
});

functions.run();
