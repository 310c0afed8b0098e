/**
 * Function versions in process: an update is version N+1 and what runs from then on, every
 * version stays readable, a rollback copies an earlier one as the next version, two updates at
 * once are one version and one refusal (409, or 412 with If-Match), and each execution records
 * the version it ran.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pinnedReference } from '../src/domain/image-reference.ts';
import { functionStream } from '../src/domain/streams.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { barrier } from './support/faults.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, withApp } from './support/in-process-app.ts';

const versions = suite('function versions [app in process]');

const OTHER_IMAGE = 'registry.test/scripted:2';

type Caller = SignedUp & { functionId: string };

async function callerWithFunction(app: InProcessApp): Promise<Caller> {
  const user = await signUp(app.request);
  const fn = await createFunction(app.request, user.token, { image: IMAGE, env: { MODE: 'one' } });
  return { ...user, functionId: fn.id };
}

const patch = (app: InProcessApp, caller: Caller, json: Record<string, unknown>, ifMatch?: string) =>
  app.request('PATCH', `/v1/functions/${caller.functionId}`, { token: caller.token, json, headers: ifMatch === undefined ? {} : { 'if-match': ifMatch } });

const run = (app: InProcessApp, caller: Caller, body = 'x') => app.request('POST', `/v1/functions/${caller.functionId}/executions`, { token: caller.token, body });

versions('an update is version 2: current at once, with its ETag; executions run it and say so; version 1 stays readable', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const first = await run(app, caller);
    assert.is(first.body.functionVersion, 1);

    const updated = await patch(app, caller, { image: OTHER_IMAGE, env: { MODE: 'two' }, timeoutMs: 2000 });
    assert.is(updated.status, 200, JSON.stringify(updated.body));
    assert.is(updated.headers.get('etag'), '"2"');
    assert.equal([updated.body.version, updated.body.image, updated.body.env, updated.body.timeoutMs, updated.body.name], [2, OTHER_IMAGE, { MODE: 'two' }, 2000, 'fn']);
    const read = await app.request('GET', `/v1/functions/${caller.functionId}`, { token: caller.token });
    assert.equal([read.headers.get('etag'), read.body], ['"2"', updated.body]);

    const second = await run(app, caller);
    assert.is(second.body.functionVersion, 2);
    // Each pinned to the digest its tag named when the version was made.
    assert.equal(
      app.runtime.runs.map((each) => each.image),
      [pinnedReference(IMAGE, app.images.current(IMAGE)), pinnedReference(OTHER_IMAGE, app.images.current(OTHER_IMAGE))],
    );
    assert.is((await app.request('GET', `/v1/executions/${first.body.executionId}`, { token: caller.token })).body.functionVersion, 1);

    const listed = await app.request('GET', `/v1/functions/${caller.functionId}/versions`, { token: caller.token });
    assert.is(listed.status, 200);
    assert.is(listed.body.current, 2);
    assert.equal(listed.body.versions.map((each: { version: number; image: string }) => [each.version, each.image]), [[1, IMAGE], [2, OTHER_IMAGE]]);
    assert.equal((await app.request('GET', '/v1/functions', { token: caller.token })).body.functions.map((f: { version: number }) => f.version), [2]);
  });
});

versions('the same change again makes no version; bad fields are 400; another user gets 403; the name cannot change', async () => {
  await withApp({ worker: false }, async (app) => {
    const caller = await callerWithFunction(app);
    assert.is((await patch(app, caller, { env: { MODE: 'two' } })).body.version, 2);
    const again = await patch(app, caller, { env: { MODE: 'two' } });
    assert.equal([again.status, again.body.version], [200, 2]);
    assertProblem(await patch(app, caller, { timeoutMs: -1 }), 400);
    assertProblem(await patch(app, caller, { name: 'renamed' }), 400);
    const polluting = await app.request('PATCH', `/v1/functions/${caller.functionId}`, {
      token: caller.token,
      body: '{"__proto__":{"admin":true}}',
      headers: { 'content-type': 'application/json' },
    });
    assertProblem(polluting, 400);
    const other = await signUp(app.request);
    assertProblem(await app.request('PATCH', `/v1/functions/${caller.functionId}`, { token: other.token, json: { env: {} } }), 403);
    assert.equal((await app.events(functionStream(caller.functionId))).map((event) => event.type), ['FunctionCreated', 'FunctionUpdated']);
  });
});

versions('a rollback copies an earlier version as the next one, in one event; what runs is that version again', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    await patch(app, caller, { image: OTHER_IMAGE });
    const rolled = await app.request('POST', `/v1/functions/${caller.functionId}/rollback`, { token: caller.token, json: { version: 1 } });
    assert.is(rolled.status, 200, JSON.stringify(rolled.body));
    assert.equal([rolled.body.version, rolled.body.rolledBackFrom, rolled.body.image, rolled.headers.get('etag')], [3, 1, IMAGE, '"3"']);
    const ran = await run(app, caller);
    assert.is(ran.body.functionVersion, 3);
    assert.equal(app.runtime.runs.map((each) => each.image), [pinnedReference(IMAGE, app.images.current(IMAGE))]);
    assert.equal((await app.events(functionStream(caller.functionId))).map((event) => event.type), ['FunctionCreated', 'FunctionUpdated', 'FunctionRolledBack']);
    assertProblem(await app.request('POST', `/v1/functions/${caller.functionId}/rollback`, { token: caller.token, json: { version: 9 } }), 404);
    assertProblem(await app.request('POST', `/v1/functions/${caller.functionId}/rollback`, { token: caller.token, json: {} }), 400);
  });
});

versions('two updates at once: one is version 2, the other 409 naming it; with If-Match the stale one is 412', async () => {
  await withApp({ worker: false }, async (app) => {
    const caller = await callerWithFunction(app);
    app.store.beforeAppend('function-', barrier(2), 2);
    const replies = await Promise.all([patch(app, caller, { env: { MODE: 'a' } }), patch(app, caller, { env: { MODE: 'b' } })]);
    const statuses = replies.map((reply) => reply.status).sort();
    assert.equal(statuses, [200, 409], JSON.stringify(replies.map((reply) => reply.body)));
    const refused = replies.find((reply) => reply.status === 409)!;
    assertProblem(refused, 409);
    assert.is(refused.body.currentVersion, 2);
    assert.equal((await app.events(functionStream(caller.functionId))).map((event) => event.type), ['FunctionCreated', 'FunctionUpdated']);

    const stale = await patch(app, caller, { env: { MODE: 'c' } }, '"1"');
    assertProblem(stale, 412);
    assert.is(stale.body.title, 'Precondition Failed');
    assert.is(stale.body.currentVersion, 2);
    const fresh = await patch(app, caller, { env: { MODE: 'c' } }, '"2"');
    assert.equal([fresh.status, fresh.body.version], [200, 3]);
    assertProblem(await patch(app, caller, { env: { MODE: 'd' } }, 'W/"3"'), 412);
    assert.is((await patch(app, caller, { env: { MODE: 'd' } }, '*')).body.version, 4);
  });
});

versions.run();
