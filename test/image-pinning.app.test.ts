/**
 * Digest pinning in process (issue 19): a version runs the digest its image's tag named when the
 * version was made, over a scripted registry (test/support/scripted-images.ts). A tag moved
 * afterwards changes nothing until the image is named again; a rollback runs the earlier digest;
 * an image the registry lacks is 400 and a registry that cannot be asked 503, nothing recorded.
 * Over a real registry and engine: test/image-pinning.e2e.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pinnedReference } from '../src/domain/image-reference.ts';
import { functionStream } from '../src/domain/streams.ts';
import type { WarmTarget } from '../src/ports/job-bus.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, withApp } from './support/in-process-app.ts';

const pinning = suite('image digest pinning [app in process]');

type Caller = SignedUp & { functionId: string };

async function callerWithFunction(app: InProcessApp, extra: { minWarm?: number } = {}): Promise<Caller> {
  const user = await signUp(app.request);
  const fn = await createFunction(app.request, user.token, { image: IMAGE, ...extra });
  return { ...user, functionId: fn.id };
}

const patch = (app: InProcessApp, caller: Caller, json: Record<string, unknown>) =>
  app.request('PATCH', `/v1/functions/${caller.functionId}`, { token: caller.token, json });

const run = (app: InProcessApp, caller: Caller) => app.request('POST', `/v1/functions/${caller.functionId}/executions`, { token: caller.token, body: 'x' });

const record = (app: InProcessApp, caller: Caller, executionId: string) => app.request('GET', `/v1/executions/${executionId}`, { token: caller.token });

const eventTypes = async (app: InProcessApp, caller: Caller) => (await app.events(functionStream(caller.functionId))).map((event) => event.type);

pinning('a function is pinned at creation; a tag moved later changes nothing that runs; naming the tag again deploys it; a rollback runs the old digest', async () => {
  await withApp({}, async (app) => {
    const caller = await callerWithFunction(app);
    const first = app.images.current(IMAGE);
    const read = await app.request('GET', `/v1/functions/${caller.functionId}`, { token: caller.token });
    assert.is(read.body.imageDigest, first);
    assert.is(read.body.image, IMAGE, 'the image as its owner named it');

    const second = app.images.move(IMAGE);
    const before = await run(app, caller);
    assert.equal([before.body.functionVersion, before.body.imageDigest], [1, first], JSON.stringify(before.body));

    const redeployed = await patch(app, caller, { image: IMAGE });
    assert.equal([redeployed.status, redeployed.body.version, redeployed.body.image, redeployed.body.imageDigest], [200, 2, IMAGE, second], JSON.stringify(redeployed.body));
    const after = await run(app, caller);
    assert.equal([after.body.functionVersion, after.body.imageDigest], [2, second]);

    const rolled = await app.request('POST', `/v1/functions/${caller.functionId}/rollback`, { token: caller.token, json: { version: 1 } });
    assert.equal([rolled.body.version, rolled.body.imageDigest], [3, first]);
    const back = await run(app, caller);
    assert.equal([back.body.functionVersion, back.body.imageDigest], [3, first]);

    assert.equal(
      app.runtime.runs.map((each) => each.image),
      [pinnedReference(IMAGE, first), pinnedReference(IMAGE, second), pinnedReference(IMAGE, first)],
    );
    // The stored record says the same as the answer did.
    assert.is((await record(app, caller, before.body.executionId)).body.imageDigest, first);
    const queued = (await app.events(`execution-${after.body.executionId}`))[0]!;
    assert.equal([queued.type, (queued.data as { imageDigest: string }).imageDigest, (queued.data as { image: string }).image], ['ExecutionQueued', second, IMAGE]);
    const listed = await app.request('GET', `/v1/functions/${caller.functionId}/versions`, { token: caller.token });
    assert.equal(listed.body.versions.map((each: { imageDigest: string }) => each.imageDigest), [first, second, first]);
  });
});

pinning('naming the same unmoved tag makes no version; a change without the image keeps the digest and asks no registry; a rollback asks none', async () => {
  await withApp({ worker: false }, async (app) => {
    const caller = await callerWithFunction(app);
    const digest = app.images.current(IMAGE);
    assert.equal(app.images.asked, [IMAGE]);
    const same = await patch(app, caller, { image: IMAGE });
    assert.equal([same.status, same.body.version, same.body.imageDigest], [200, 1, digest]);
    assert.equal(app.images.asked, [IMAGE, IMAGE], 'naming the image asks again');

    app.images.move(IMAGE);
    const env = await patch(app, caller, { env: { MODE: 'two' } });
    assert.equal([env.body.version, env.body.imageDigest], [2, digest], 'the moved tag is not deployed by a change that does not name it');
    const rolled = await app.request('POST', `/v1/functions/${caller.functionId}/rollback`, { token: caller.token, json: { version: 1 } });
    assert.equal([rolled.body.version, rolled.body.imageDigest], [3, digest]);
    assert.equal(app.images.asked, [IMAGE, IMAGE]);
    assert.equal(await eventTypes(app, caller), ['FunctionCreated', 'FunctionUpdated', 'FunctionRolledBack']);
  });
});

pinning('a reference that names a digest is pinned to it without asking the registry', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const digest = `sha256:${'ab'.repeat(32)}`;
    const image = `${IMAGE}@${digest}`;
    const fn = await createFunction(app.request, user.token, { image });
    assert.equal([fn.image, (fn as unknown as { imageDigest: string }).imageDigest], [image, digest]);
    assert.equal(app.images.asked, []);
  });
});

pinning('an image its registry lacks is 400 naming the image and the registry; nothing is recorded, at creation or update', async () => {
  await withApp({ worker: false }, async (app) => {
    const caller = await callerWithFunction(app);
    const absent = 'registry.test/absent:1';
    app.images.absent(absent);
    const created = await app.request('POST', '/v1/functions', { token: caller.token, json: { name: 'nope', image: absent } });
    assertProblem(created, 400);
    assert.is(created.body.type, 'urn:faasbox:problem:image-not-found');
    assert.match(created.body.detail, absent);
    assert.match(created.body.detail, 'registry.test');
    assert.equal([created.body.image, created.body.registry], [absent, 'registry.test']);
    assert.not.match(JSON.stringify(created.body), /\bat .*\.ts/, 'no stack trace');
    assert.equal((await app.request('GET', '/v1/functions', { token: caller.token })).body.functions.length, 1);

    const updated = await patch(app, caller, { image: absent, env: { MODE: 'two' } });
    assertProblem(updated, 400);
    assert.is(updated.body.type, 'urn:faasbox:problem:image-not-found');
    assert.equal(await eventTypes(app, caller), ['FunctionCreated']);
  });
});

pinning('a registry that cannot be asked is 503 with Retry-After; nothing is recorded, at creation or update', async () => {
  await withApp({ worker: false }, async (app) => {
    const caller = await callerWithFunction(app);
    const elsewhere = 'registry.down:5000/team/app:1';
    app.images.unreachable(elsewhere);
    const created = await app.request('POST', '/v1/functions', { token: caller.token, json: { name: 'later', image: elsewhere } });
    assertProblem(created, 503);
    assert.is(created.body.type, 'urn:faasbox:problem:registry-unavailable');
    assert.match(created.body.detail, elsewhere);
    assert.match(created.body.detail, 'cannot be reached');
    assert.ok(Number(created.headers.get('retry-after')) >= 1);
    assert.equal((await app.request('GET', '/v1/functions', { token: caller.token })).body.functions.length, 1);

    assertProblem(await patch(app, caller, { image: elsewhere }), 503);
    assert.equal(await eventTypes(app, caller), ['FunctionCreated']);
    app.images.heal();
    const retried = await patch(app, caller, { image: elsewhere });
    assert.equal([retried.status, retried.body.version, retried.body.imageDigest], [200, 2, app.images.current(elsewhere)]);
  });
});

pinning("another user's update naming an image is 403, and no registry is asked for it", async () => {
  await withApp({ worker: false }, async (app) => {
    const caller = await callerWithFunction(app);
    const stranger = await signUp(app.request, { tag: 'stranger' });
    const reply = await app.request('PATCH', `/v1/functions/${caller.functionId}`, { token: stranger.token, json: { image: 'registry.test/other:1' } });
    assertProblem(reply, 403);
    assert.equal(app.images.asked, [IMAGE]);
  });
});

pinning('a function made before pinning runs by its tag and says so (null); its next update pins it, whatever it changes', async () => {
  await withApp({}, async (app) => {
    const user = await signUp(app.request);
    const functionId = crypto.randomUUID();
    const createdAt = app.clock.now().toISOString();
    const legacy = { functionId, ownerId: user.id, name: 'old', image: IMAGE, command: null, env: {}, timeoutMs: 5000, memoryMb: 64, createdAt };
    await app.store.append(functionStream(functionId), [{ id: crypto.randomUUID(), type: 'FunctionCreated', data: legacy, metadata: { correlationId: 'legacy' } }], 'no_stream');
    const caller = { ...user, functionId };
    const read = await app.request('GET', `/v1/functions/${functionId}`, { token: user.token });
    assert.equal([read.status, read.body.imageDigest], [200, null], JSON.stringify(read.body));
    const ran = await run(app, caller);
    assert.equal([ran.body.status, ran.body.imageDigest], ['succeeded', null], JSON.stringify(ran.body));
    assert.equal(app.runtime.runs.map((each) => each.image), [IMAGE]);

    const updated = await patch(app, caller, { env: { MODE: 'two' } });
    assert.equal([updated.body.version, updated.body.imageDigest], [2, app.images.current(IMAGE)]);
    assert.is((await run(app, caller)).body.imageDigest, app.images.current(IMAGE));
    assert.is(app.runtime.runs.at(-1)!.image, pinnedReference(IMAGE, app.images.current(IMAGE)));
  });
});

pinning("a function kept warm: the workers' warm target names the pinned reference, and follows a redeployed tag", async () => {
  await withApp({ worker: false }, async (app) => {
    const targets = new Map<string, WarmTarget | null>();
    const watch = app.bus.watchWarmTargets((functionId, target) => targets.set(functionId, target));
    try {
      const caller = await callerWithFunction(app, { minWarm: 1 });
      assert.is(targets.get(caller.functionId)?.image, pinnedReference(IMAGE, app.images.current(IMAGE)));
      const moved = app.images.move(IMAGE);
      await patch(app, caller, { image: IMAGE });
      assert.is(targets.get(caller.functionId)?.image, pinnedReference(IMAGE, moved));
    } finally {
      await watch.stop();
    }
  });
});

pinning.run();
