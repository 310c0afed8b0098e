import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { type FunctionInput, createFunction, signUp } from './api.ts';
import { assertProblem, call } from './http-client.ts';
import { eventually } from './eventually.ts';
import { executionContainers } from './execution-containers.ts';
import { deleteManifest, pushTag } from './registry-images.ts';
import { freePort } from './service-process.ts';
import { type Upload, viaCurl, viaFetch, viaSocket } from './upload-clients.ts';

/**
 * The execution flows every deployment must pass, written once and run against each shape of
 * the platform: one process over the in-process bus, and api and worker apart over NATS.
 */
export type Deployment = {
  url: string;
  /** busybox: its default command is `sh`. */
  image: string;
  /** Another image of the same registry whose default command is `cat`. */
  echoImage: string;
  workerIds: string[];
};

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
/** This deployment's containers only: other suites may share the engine. */
const containersOf = (deployment: Deployment) => executionContainers(docker, (workerId) => deployment.workerIds.includes(workerId));

const newUser = (url: string) => signUp(url, { tag: 'exec' });

const newFunction = async (url: string, token: string, spec: FunctionInput) => (await createFunction(url, token, spec)).id;

const execute = (url: string, token: string, functionId: string, body?: string, query = '') =>
  call(url, 'POST', `/v1/functions/${functionId}/executions${query}`, { token, body });

/**
 * A tag of its own on a copy of `image` under a digest no engine has pulled (a variant of its
 * manifest), taken out of the registry again right after the function is pinned to it: what runs
 * it finds its image gone until `restore` puts the same manifest back.
 */
async function imageGoneAfterDeployment(image: string) {
  const tag = `${image.replace(/:[^:/]+$/, '')}:gone-${randomUUID().slice(0, 8)}`;
  const variant = randomUUID();
  const digest = await pushTag(image, tag, { variant });
  return {
    tag,
    digest,
    remove: () => deleteManifest(tag, digest),
    restore: async () => assert.is(await pushTag(image, tag, { variant }), digest, 'the same manifest, so the same digest'),
  };
}

export function addExecutionScenarios(test: Test, deployment: () => Deployment, limitPerUser: number) {
  const url = () => deployment().url;

  test('stdin comes back on stdout (the image is pulled on first use)', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, { image: deployment().image, command: ['cat'] });
    const reply = await execute(url(), token, id, 'hello, faasbox\n');
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.is(reply.body.status, 'succeeded');
    assert.is(reply.body.exitCode, 0);
    assert.is(reply.body.stdout, 'hello, faasbox\n');
    assert.is(reply.body.stderr, '');
    assert.is(reply.body.truncated, false);
    assert.type(reply.body.durationMs, 'number');
    assert.is(reply.headers.get('location'), `/v1/executions/${reply.body.executionId}`);
  });

  test('stdin is passed through untouched, whatever its media type says', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, { image: deployment().image, command: ['cat'] });
    const body = '{"__proto__": {"admin": true}, "x": "é\\u0000"}';
    const reply = await call(url(), 'POST', `/v1/functions/${id}/executions`, {
      token,
      body,
      headers: { 'content-type': 'application/json' },
    });
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.is(reply.body.stdout, body);
  });

  test('a non-zero exit is failed, with stdout and stderr apart', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, { image: deployment().image, command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    const reply = await execute(url(), token, id);
    assert.is(reply.status, 200);
    assert.is(reply.body.status, 'failed');
    assert.is(reply.body.exitCode, 3);
    assert.is(reply.body.stdout, 'out\n');
    assert.is(reply.body.stderr, 'err\n');
  });

  test('env reaches the function; it runs locked down', async () => {
    const { token } = await newUser(url());
    const script = [
      'echo "greeting=$GREETING"',
      'echo "net=$(ls /sys/class/net | tr "\\n" " ")"',
      'echo "uid=$(id -u)"',
      'grep CapEff /proc/self/status',
      'touch /rootfs-write 2>/dev/null && echo "root=writable" || echo "root=read-only"',
      'touch /tmp/ok && echo "tmp=writable"',
    ].join('; ');
    const id = await newFunction(url(), token, { image: deployment().image, command: ['sh', '-c', script], env: { GREETING: 'hi there' } });
    const reply = await execute(url(), token, id);
    assert.is(reply.body.status, 'succeeded', JSON.stringify(reply.body));
    const out: string = reply.body.stdout;
    assert.match(out, /greeting=hi there/);
    assert.match(out, /net=lo $/m);
    assert.match(out, /uid=65534/);
    assert.match(out, /CapEff:\s+0+$/m);
    assert.match(out, /root=read-only/);
    assert.match(out, /tmp=writable/);
  });

  test('a memory hog is killed and reported', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, {
      image: deployment().image,
      command: ['sh', '-c', 'x=a; while true; do x="$x$x"; done'],
      memoryMb: 16,
      timeoutMs: 20_000,
    });
    const reply = await execute(url(), token, id);
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.is(reply.body.status, 'failed');
    assert.match(reply.body.reason, /memory/);
  });

  test('a timeout answers 504 within timeout + 5 s and leaves no container', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, { image: deployment().image, command: ['sleep', '30'], timeoutMs: 1000 });
    const started = Date.now();
    const reply = await execute(url(), token, id);
    assert.ok(Date.now() - started < 6_000, `took ${Date.now() - started} ms`);
    assert.is(reply.status, 504);
    assert.is(reply.headers.get('content-type'), 'application/json');
    assert.is(reply.body.status, 'timedOut');
    assert.match(reply.body.executionId, /^[0-9a-f-]{36}$/);
    // Removed right after the answer, off the request path.
    await eventually('the killed container is removed', 5_000, async () => ((await containersOf(deployment())).length === 0 ? true : undefined));
    const stored = await call(url(), 'GET', `/v1/executions/${reply.body.executionId}`, { token });
    assert.is(stored.body.status, 'timedOut');
  });

  test('the record says how its container started: the first call cold, a later one in a pre-started container', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, { image: deployment().image, command: ['sh', '-c', 'cat; hostname'] });
    const first = await execute(url(), token, id, 'one ');
    assert.is(first.body.start, 'cold', JSON.stringify(first.body));
    // The pool refills in the background: a few calls may come before it has.
    const later = await eventually('a call served pre-started', 15_000, async () => {
      const reply = await execute(url(), token, id, 'two ');
      return reply.body.start === 'prestarted' ? reply : undefined;
    }, 300);
    assert.is(later.body.status, 'succeeded');
    assert.match(later.body.stdout, /^two [0-9a-f]{12}\n$/);
    assert.is.not(later.body.stdout.slice(4), first.body.stdout.slice(4), 'its own container');
    const stored = await call(url(), 'GET', `/v1/executions/${later.body.executionId}`, { token });
    assert.is(stored.body.start, 'prestarted');
  });

  test("deleting a function removes its pre-started containers within a second; its owner's other function keeps its own", async () => {
    const { token } = await newUser(url());
    const [doomed, kept] = [
      await newFunction(url(), token, { image: deployment().image, command: ['cat'] }),
      await newFunction(url(), token, { image: deployment().image, command: ['cat'] }),
    ];
    for (const id of [doomed, kept]) assert.is((await execute(url(), token, id, 'x')).status, 200);
    const readyFor = async (functionId: string) =>
      (await docker.listContainers({ filters: { label: [`faasbox.prestarted=${functionId}`] } })).filter(
        (container) => deployment().workerIds.includes(container.Labels['faasbox.worker'] ?? '') && container.Names[0]?.startsWith('/faasbox-prestarted-'),
      );
    await eventually('both functions have a pre-started container', 15_000, async () =>
      (await readyFor(doomed)).length > 0 && (await readyFor(kept)).length > 0 ? true : undefined,
    );
    const deleted = await call(url(), 'DELETE', `/v1/functions/${doomed}`, { token });
    assert.is(deleted.status, 200);
    const deletedAt = Date.now();
    const goneAfter = await eventually('the deleted function has no container left', 5_000, async () =>
      (await docker.listContainers({ all: true, filters: { label: [`faasbox.prestarted=${doomed}`] } })).length === 0 ? Date.now() - deletedAt : undefined,
    50);
    assert.ok(goneAfter <= 1_000, `its containers went ${goneAfter} ms after the deletion`);
    assert.ok((await readyFor(kept)).length > 0, 'the other function keeps its pre-started container');
    const again = await execute(url(), token, kept, 'still here');
    assert.is(again.body.stdout, 'still here');
  });

  test("a new version drops the old one's pre-started containers within a second, and its next call runs pre-started in a container of the new one", async () => {
    const { token } = await newUser(url());
    const created = await createFunction(url(), token, { image: deployment().image, command: ['sh', '-c', 'echo $MODE'], env: { MODE: 'one' }, minWarm: 1 });
    const prestarted = async () =>
      (await docker.listContainers({ all: true, filters: { label: [`faasbox.prestarted=${created.id}`] } })).filter((container) =>
        deployment().workerIds.includes(container.Labels['faasbox.worker'] ?? ''),
      );
    const old = await eventually('each worker keeps one ready', 20_000, async () => {
      const ready = await prestarted();
      return deployment().workerIds.every((id) => ready.some((container) => container.Labels['faasbox.worker'] === id)) ? ready.map((c) => c.Id) : undefined;
    });
    const updated = await call(url(), 'PATCH', `/v1/functions/${created.id}`, { token, json: { env: { MODE: 'two' } } });
    assert.equal([updated.status, updated.body.version], [200, 2], JSON.stringify(updated.body));
    const updatedAt = Date.now();
    const goneAfter = await eventually("the old version's containers gone", 5_000, async () => {
      const ids = new Set((await prestarted()).map((container) => container.Id));
      return old.every((id) => !ids.has(id)) ? Date.now() - updatedAt : undefined;
    }, 50);
    assert.ok(goneAfter <= 1_000, `the old version's containers went ${goneAfter} ms after the update`);
    await eventually("each worker keeps one of the new version's ready", 20_000, async () => {
      const ready = (await prestarted()).filter((container) => container.State === 'running');
      return deployment().workerIds.every((id) => ready.some((container) => container.Labels['faasbox.worker'] === id)) ? true : undefined;
    });
    const after = await execute(url(), token, created.id);
    assert.equal([after.body.stdout, after.body.functionVersion], ['two\n', 2], JSON.stringify(after.body));
    await eventually('the record says it ran pre-started', 5_000, async () => {
      const stored = await call(url(), 'GET', `/v1/executions/${after.body.executionId}`, { token });
      return stored.body.start === 'prestarted' ? true : undefined;
    });
  });

  test('minWarm: every worker has containers ready before the first call, which is served pre-started', async () => {
    const { token } = await newUser(url());
    const created = await createFunction(url(), token, { image: deployment().image, command: ['cat'], minWarm: 1 });
    assert.is(created.minWarm, 1);
    await eventually('each worker keeps one ready', 20_000, async () => {
      const ready = await docker.listContainers({ filters: { label: [`faasbox.prestarted=${created.id}`] } });
      const workers = new Set(ready.map((container) => container.Labels['faasbox.worker']));
      return deployment().workerIds.every((id) => workers.has(id)) ? true : undefined;
    });
    const first = await execute(url(), token, created.id, 'first call');
    assert.is(first.body.stdout, 'first call');
    // The record says so once the start notice is recorded (it may come after the answer).
    await eventually('the record says how it started', 5_000, async () => {
      const stored = await call(url(), 'GET', `/v1/executions/${first.body.executionId}`, { token });
      return stored.body.start === 'prestarted' ? true : undefined;
    });
  });

  test('a tag its registry lacks is 400, a registry with nothing listening 503 with Retry-After: problem+json naming the image, nothing recorded', async () => {
    const { token } = await newUser(url());
    const absent = `${deployment().image.replace(/:[^:/]+$/, '')}:absent-${randomUUID().slice(0, 8)}`;
    const notFound = await call(url(), 'POST', '/v1/functions', { token, json: { name: 'absent', image: absent } });
    assertProblem(notFound, 400);
    assert.equal([notFound.body.type, notFound.body.image], ['urn:faasbox:problem:image-not-found', absent]);
    assert.match(notFound.body.detail, absent);
    const nowhere = `127.0.0.1:${await freePort()}/faasbox/busybox:1`;
    const unavailable = await call(url(), 'POST', '/v1/functions', { token, json: { name: 'nowhere', image: nowhere } });
    assertProblem(unavailable, 503);
    assert.equal([unavailable.body.type, unavailable.body.image], ['urn:faasbox:problem:registry-unavailable', nowhere]);
    assert.match(unavailable.body.detail, /cannot be reached/);
    assert.ok(Number(unavailable.headers.get('retry-after')) >= 1);
    const created = await createFunction(url(), token, { image: deployment().image });
    assertProblem(await call(url(), 'PATCH', `/v1/functions/${created.id}`, { token, json: { image: absent } }), 400);
    assertProblem(await call(url(), 'PATCH', `/v1/functions/${created.id}`, { token, json: { image: nowhere } }), 503);
    const listed = await call(url(), 'GET', '/v1/functions', { token });
    assert.equal(listed.body.functions.map((fn: { id: string; version: number }) => [fn.id, fn.version]), [[created.id, 1]]);
  });

  test('an image gone from its registry after deployment is a failed execution with a reason, not a server error', async () => {
    const { token } = await newUser(url());
    const gone = await imageGoneAfterDeployment(deployment().image);
    const created = await createFunction(url(), token, { image: gone.tag, command: ['cat'] });
    assert.is((created as unknown as { imageDigest: string }).imageDigest, gone.digest);
    await gone.remove();
    const reply = await execute(url(), token, created.id);
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.is(reply.body.status, 'failed');
    assert.match(reply.body.reason, /image/);
    assert.is(reply.body.exitCode, null);
    assert.is(reply.body.imageDigest, gone.digest);
  });

  test("retries: a pull that failed is the platform's failure, retried after its backoff, and runs once the image is back; a dead letter is redriven into a run", async () => {
    const { token } = await newUser(url());
    const poll = async (executionId: string, until: (state: any) => boolean) => {
      let state: any;
      await eventually(`${executionId} as expected`, 20_000, async () => {
        state = (await call(url(), 'GET', `/v1/executions/${executionId}`, { token })).body;
        return until(state) ? true : undefined;
      });
      return state;
    };

    const retriedImage = await imageGoneAfterDeployment(deployment().image);
    const retried = await newFunction(url(), token, { image: retriedImage.tag, command: ['cat'], retry: { maxAttempts: 2, backoff: { initialMs: 3000, maxMs: 3000 } } });
    await retriedImage.remove();
    const queued = await execute(url(), token, retried, 'retried body', '?wait=false');
    assert.is(queued.status, 202);
    const waiting = await poll(queued.body.executionId, (state) => state.attempt === 2 || state.deadLetter !== null);
    assert.is(waiting.attempt, 2, JSON.stringify(waiting));
    assert.match(waiting.attempts[0].reason, /image/);
    assert.is(waiting.status, 'queued');
    await retriedImage.restore();
    const done = await poll(queued.body.executionId, (state) => state.status !== 'queued' && state.status !== 'running');
    assert.equal([done.status, done.stdout, done.attempt, done.deadLetter, done.imageDigest], ['succeeded', 'retried body', 2, null, retriedImage.digest], JSON.stringify(done));

    const redrivenImage = await imageGoneAfterDeployment(deployment().image);
    const once = await newFunction(url(), token, { image: redrivenImage.tag, command: ['cat'] });
    await redrivenImage.remove();
    const lost = await execute(url(), token, once, 'redriven body', '?wait=false');
    await poll(lost.body.executionId, (state) => state.deadLetter !== null);
    // The list is a read model: over NATS another api may have recorded the dead letter, and this one learns it by polling.
    await eventually('listed as a dead letter', 10_000, async () => {
      const listed = await call(url(), 'GET', '/v1/dead-letters', { token });
      return listed.body.deadLetters.some((entry: { executionId: string }) => entry.executionId === lost.body.executionId) ? true : undefined;
    });
    await redrivenImage.restore();
    const redrive = await call(url(), 'POST', `/v1/dead-letters/${lost.body.executionId}/redrive`, { token });
    assert.is(redrive.status, 202, JSON.stringify(redrive.body));
    const rerun = await poll(redrive.body.executionId, (state) => state.status !== 'queued' && state.status !== 'running');
    assert.equal([rerun.status, rerun.stdout, rerun.redriveOf], ['succeeded', 'redriven body', lost.body.executionId]);
    await eventually('off the dead-letter list', 10_000, async () =>
      (await call(url(), 'GET', '/v1/dead-letters', { token })).body.deadLetters.length === 0 ? true : undefined,
    );
  });

  test('a tag pushed again after deployment changes nothing that runs until the image is named again; a rollback runs the first image again; each record names its digest', async () => {
    const { token } = await newUser(url());
    // Its default command: the first image copies stdin (`cat`), the second runs it (`sh`).
    const tag = `${deployment().image.replace(/\/[^/]+$/, '')}/pinned-${randomUUID().slice(0, 8)}:live`;
    const first = await pushTag(deployment().echoImage, tag);
    const created = await createFunction(url(), token, { image: tag });
    assert.equal([created.image, (created as unknown as { imageDigest: string }).imageDigest], [tag, first]);
    const runs = async (expected: { stdout: string; version: number; digest: string }) => {
      const reply = await execute(url(), token, created.id, 'echo the second image ran');
      assert.equal([reply.body.status, reply.body.stdout, reply.body.functionVersion, reply.body.imageDigest], ['succeeded', expected.stdout, expected.version, expected.digest], JSON.stringify(reply.body));
      return reply.body.executionId as string;
    };
    const byFirst = { stdout: 'echo the second image ran', digest: first };

    const before = await runs({ ...byFirst, version: 1 });
    const second = await pushTag(deployment().image, tag);
    assert.is.not(second, first);
    const moved = await runs({ ...byFirst, version: 1 });

    const redeployed = await call(url(), 'PATCH', `/v1/functions/${created.id}`, { token, json: { image: tag } });
    assert.equal([redeployed.status, redeployed.body.version, redeployed.body.imageDigest], [200, 2, second], JSON.stringify(redeployed.body));
    const after = await runs({ stdout: 'the second image ran\n', version: 2, digest: second });
    const unmoved = await call(url(), 'PATCH', `/v1/functions/${created.id}`, { token, json: { image: tag } });
    assert.equal([unmoved.status, unmoved.body.version], [200, 2], 'an unmoved tag makes no version');

    const rolled = await call(url(), 'POST', `/v1/functions/${created.id}/rollback`, { token, json: { version: 1 } });
    assert.equal([rolled.status, rolled.body.version, rolled.body.imageDigest], [200, 3, first], JSON.stringify(rolled.body));
    const back = await runs({ ...byFirst, version: 3 });

    const recorded = await Promise.all([before, moved, after, back].map(async (id) => (await call(url(), 'GET', `/v1/executions/${id}`, { token })).body));
    assert.equal(recorded.map((record) => [record.functionVersion, record.imageDigest]), [[1, first], [1, first], [2, second], [3, first]]);
  });

  test('wait=false answers 202 at once; polling reaches the result', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, { image: deployment().image, command: ['sh', '-c', 'sleep 1; cat'] });
    const queued = await execute(url(), token, id, 'async body', '?wait=false');
    assert.is(queued.status, 202);
    assert.equal(queued.body, { executionId: queued.body.executionId, status: 'queued' });
    let state: any;
    for (let i = 0; i < 100; i++) {
      state = (await call(url(), 'GET', `/v1/executions/${queued.body.executionId}`, { token })).body;
      if (state.status === 'succeeded' || state.status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.is(state.status, 'succeeded', JSON.stringify(state));
    assert.is(state.stdout, 'async body');
  });

  test('Idempotency-Key: six requests with one key at once (fetch, curl, a raw socket) are one execution in one container; the key for another body is 422', async () => {
    const { token } = await newUser(url());
    const id = await newFunction(url(), token, { image: deployment().image, command: ['sh', '-c', 'sleep 0.3; cat; echo; hostname'] });
    const dir = mkdtempSync(join(tmpdir(), 'faasbox-idempotency-'));
    const file = join(dir, 'body');
    const body = new TextEncoder().encode('order 42');
    writeFileSync(file, body);
    const upload: Upload = {
      url: `${url()}/v1/functions/${id}/executions`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'idempotency-key': `"${id}-order-42"` },
      body,
      file,
      framing: 'length',
      expectContinue: false,
    };
    try {
      const outcomes = await Promise.all([viaFetch, viaCurl, viaSocket, viaFetch, viaCurl, viaSocket].map((send) => send(upload)));
      const answers = outcomes.map((outcome) => {
        if ('error' in outcome) throw new Error(outcome.error);
        assert.is(outcome.status, 200, outcome.body);
        return JSON.parse(outcome.body) as { executionId: string; status: string; stdout: string };
      });
      assert.is(new Set(answers.map((answer) => answer.executionId)).size, 1, JSON.stringify(answers));
      // The container's hostname is its id: one container answered them all.
      assert.is(new Set(answers.map((answer) => answer.stdout)).size, 1);
      assert.match(answers[0]!.stdout, /^order 42\n\w+\n$/);
      const history = await call(url(), 'GET', `/v1/functions/${id}/executions`, { token });
      assert.equal(history.body.executions.map((execution: { executionId: string }) => execution.executionId), [answers[0]!.executionId]);
      const later = await call(url(), 'POST', `/v1/functions/${id}/executions?wait=false`, { token, body: 'order 42', headers: { 'idempotency-key': `${id}-order-42` } });
      assert.equal([later.status, later.headers.get('idempotent-replayed'), later.body.executionId], [200, 'true', answers[0]!.executionId]);
      assertProblem(await call(url(), 'POST', `/v1/functions/${id}/executions`, { token, body: 'order 43', headers: { 'idempotency-key': `${id}-order-42` } }), 422);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`limit ${limitPerUser}: of 8 simultaneous requests exactly ${limitPerUser} run, the rest get 429; never more containers`, async () => {
    const [user, other] = [await newUser(url()), await newUser(url())];
    const id = await newFunction(url(), user.token, { image: deployment().image, command: ['sleep', '2'] });
    let maxContainers = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxContainers = Math.max(maxContainers, (await containersOf(deployment())).length);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const burst = Promise.all(Array.from({ length: 8 }, () => execute(url(), user.token, id)));
    // Meanwhile another user is not blocked by the first one's limit.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const otherId = await newFunction(url(), other.token, { image: deployment().image, command: ['cat'] });
    const otherReply = await execute(url(), other.token, otherId, 'not blocked');
    const replies = await burst;
    sampling = false;
    await sampler;

    const statuses = replies.map((reply) => reply.status);
    assert.is(statuses.filter((s) => s === 200).length, limitPerUser, statuses.join(','));
    assert.is(statuses.filter((s) => s === 429).length, 8 - limitPerUser, statuses.join(','));
    for (const reply of replies.filter((r) => r.status === 429)) {
      assertProblem(reply, 429);
      assert.ok(Number(reply.headers.get('retry-after')) >= 1);
    }
    assert.is(otherReply.body.stdout, 'not blocked');
    assert.ok(maxContainers <= limitPerUser + 1, `saw ${maxContainers} containers`);

    // Every slot is free again.
    const again = await Promise.all(Array.from({ length: limitPerUser }, () => execute(url(), user.token, id)));
    assert.equal(again.map((r) => r.status), Array(limitPerUser).fill(200));
  });

  test('history lists a function’s executions newest first; only the owner sees them', async () => {
    const [user, stranger] = [await newUser(url()), await newUser(url())];
    const id = await newFunction(url(), user.token, { image: deployment().image, command: ['sh', '-c', 'exit $(cat)'] });
    const first = await execute(url(), user.token, id, '0');
    const second = await execute(url(), user.token, id, '4');
    const history = await call(url(), 'GET', `/v1/functions/${id}/executions`, { token: user.token });
    assert.is(history.status, 200);
    assert.equal(
      history.body.executions.map((e: { executionId: string; status: string; exitCode: number }) => [e.executionId, e.status, e.exitCode]),
      [
        [second.body.executionId, 'failed', 4],
        [first.body.executionId, 'succeeded', 0],
      ],
    );
    assertProblem(await call(url(), 'GET', `/v1/functions/${id}/executions`, { token: stranger.token }), 403);
    assertProblem(await call(url(), 'GET', `/v1/executions/${first.body.executionId}`, { token: stranger.token }), 403);
    assertProblem(await call(url(), 'GET', `/v1/executions/${crypto.randomUUID()}`, { token: user.token }), 404);
    assertProblem(await execute(url(), stranger.token, id), 403);
    assertProblem(await execute(url(), user.token, crypto.randomUUID()), 404);
  });

  test('no labelled container is left behind', async () => {
    // The last execution's may be in removal still: that happens after its answer.
    await eventually('every execution container is removed', 5_000, async () => ((await containersOf(deployment())).length === 0 ? true : undefined)).catch(() => {});
    assert.equal(await containersOf(deployment()), []);
  });
}
