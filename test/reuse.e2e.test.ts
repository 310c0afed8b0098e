/**
 * Container reuse end to end (`reuse: true`): one container serves successive executions of one
 * function of one owner, and each execution must find it as the first did. Over the real server
 * process, the real Docker engine and a loopback registry; the container an execution ran in is
 * the one its `ExecutionStarted` event names (read through the operator's audit route), and the
 * engine is asked directly what exists and how it is labelled.
 */
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type FunctionInput, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { type Reply, assertProblem, call } from './support/http-client.ts';
import { grantOperator } from './support/operator-command.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer } from './support/server-process.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';

const docker = new Docker();

/** One running platform, and an operator of it who may read any execution's events. */
type Platform = { server: ServerProcess; workerId: string; operatorToken: string };

/** Every worker this file starts: what is left of theirs at the end is a leak. */
const workerIds: string[] = [];
let registry: Registry;
let images: TestImages;
let platform: Platform;

async function startPlatform(name: string, env: Record<string, string> = {}): Promise<Platform> {
  const workerId = `reuse-e2e-${name}-${process.pid}`;
  workerIds.push(workerId);
  const server = await startServer({ env: { FAASBOX_WORKER_ID: workerId, FAASBOX_EXECUTION_GRACE_MS: '5000', FAASBOX_DRAIN_TIMEOUT: '2000', ...env } });
  const operator = await signUp(server.url, { tag: 'reuse-operator' });
  // Rights are read from the user's stream on every admin request: the token issued before works.
  grantOperator(server.dataDir, operator.email);
  return { server, workerId, operatorToken: operator.token };
}

const createReusable = async (on: Platform, token: string, input: FunctionInput) => {
  const body: FunctionInput & { reuse: boolean } = { reuse: true, ...input };
  const created = await createFunction(on.server.url, token, body);
  assert.is((created as { reuse?: unknown }).reuse, true, 'the function says it reuses its containers');
  return created.id;
};

/** One synchronous execution, and the container it ran in (from its started event). */
type Run = { reply: Reply; executionId: string; start: string; containerId: string };

async function execute(on: Platform, token: string, functionId: string, stdin: string): Promise<Run> {
  const reply = await call(on.server.url, 'POST', `/v1/functions/${functionId}/executions`, { token, body: stdin });
  assert.ok(reply.status === 200 || reply.status === 504, `unexpected answer ${reply.status}: ${JSON.stringify(reply.body)}`);
  const executionId = reply.body.executionId as string;
  const events = await call(on.server.url, 'GET', `/v1/admin/streams/execution-${executionId}`, { token: on.operatorToken });
  assert.is(events.status, 200, JSON.stringify(events.body));
  const started = (events.body.events as { type: string; data: { containerId?: string } }[]).find((event) => event.type === 'ExecutionStarted');
  assert.ok(started?.data.containerId, `execution ${executionId} has no started event: ${JSON.stringify(events.body.events)}`);
  return { reply, executionId, start: reply.body.start as string, containerId: started.data.containerId };
}

/** Like `execute`, and it must have succeeded. */
async function succeeds(on: Platform, token: string, functionId: string, stdin: string): Promise<Run> {
  const run = await execute(on, token, functionId, stdin);
  assert.is(run.reply.status, 200, JSON.stringify(run.reply.body));
  assert.is(run.reply.body.status, 'succeeded', JSON.stringify(run.reply.body));
  return run;
}

/** The worker's clean containers waiting for a call, all functions together (its /metrics). */
async function idleReused(on: Platform): Promise<number> {
  const text = await (await fetch(`${on.server.url}/metrics`)).text();
  const match = /^faasbox_reused_containers\{state="idle"\} (\d+)$/m.exec(text);
  assert.ok(match, `no faasbox_reused_containers in /metrics:\n${text}`);
  return Number(match[1]);
}

const labelled = (label: string) => docker.listContainers({ all: true, filters: { label: [label] } });
const volumesLabelled = async (label: string) => (await docker.listVolumes({ filters: { label: [label] } })).Volumes ?? [];
const exists = (containerId: string) =>
  docker
    .getContainer(containerId)
    .inspect()
    .then(
      () => true,
      () => false,
    );

/** Within a few seconds, nothing labelled `label` is left on the engine: no container, no /tmp volume. */
const noneLabelled = (label: string, what: string) =>
  eventually(what, 5_000, async () => ((await labelled(label)).length === 0 && (await volumesLabelled(label)).length === 0 ? true : undefined));

const test = suite('container reuse [one process, real engine]');

// Started in a test, not a hook: uvu would swallow a failed start.
test('the platform starts with reuse on, over a loopback registry holding the test images', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
  platform = await startPlatform('on');
});

// ---- a clean slate between executions

/** What a call finds of the container: its processes, /tmp, /dev/shm, its environment, its host name. */
const LOOK_AROUND = [
  'echo "self=$$"',
  // A glob and a builtin: this shell lists /proc without a process of its own.
  'for p in /proc/[0-9]*; do echo "pid=${p#/proc/}"; done',
  'echo "tmpfiles=[$(ls -A /tmp)]"',
  'echo "shmfiles=[$(ls -A /dev/shm)]"',
  'echo "leak=${LEAK-unset}"',
  'echo "host=$(hostname)"',
];

/** What a call leaves behind for the next one, in every way a function can. */
const LITTER = [
  'echo secret > /tmp/left-behind',
  'mkdir -p /tmp/locked/inner && echo x > /tmp/locked/inner/file && chmod 000 /tmp/locked/inner /tmp/locked',
  'echo secret > /dev/shm/left-behind && echo "shm=written"',
  // Holds the function's stdout open, in its process group.
  'sleep 1000 &',
  // A daemon: double-forked, in a session of its own, its parent gone.
  "(setsid sh -c 'exec sleep 1001' </dev/null >/dev/null 2>&1 &) &",
  'export LEAK=yes',
  'sleep 0.3',
  "for p in /proc/[0-9]*; do echo \"running ${p#/proc/} $(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\"; done",
];

const field = (stdout: string, name: string) => [...stdout.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((match) => match[1] ?? '');

function assertCleanSlate(run: Run, call: string) {
  const out = run.reply.body.stdout as string;
  const self = field(out, 'self')[0];
  assert.equal(field(out, 'pid').sort(), ['1', self].sort(), `${call}: only the agent (PID 1) and the call's own shell may run, found:\n${out}`);
  assert.equal(field(out, 'tmpfiles'), ['[]'], `${call}: /tmp is empty:\n${out}`);
  assert.equal(field(out, 'shmfiles'), ['[]'], `${call}: /dev/shm is empty:\n${out}`);
  assert.equal(field(out, 'leak'), ['unset'], `${call}: an exported variable does not survive:\n${out}`);
  assert.is(field(out, 'host')[0], run.containerId.slice(0, 12), `${call}: it ran in the container its started event names`);
}

function assertLittered(run: Run, call: string) {
  const out = run.reply.body.stdout as string;
  assert.match(out, /^shm=written$/m, `${call} wrote to /dev/shm`);
  assert.match(out, /^running \d+ sleep 1000 $/m, `${call} left a background process:\n${out}`);
  assert.match(out, /^running \d+ sleep 1001 $/m, `${call} left a daemon:\n${out}`);
}

test('each execution of a reused container finds it clean: no process, file, daemon or variable of the last one', async () => {
  const { token } = await signUp(platform.server.url, { tag: 'clean-slate' });
  const id = await createReusable(platform, token, { image: images.busybox, command: ['sh'], timeoutMs: 10_000 });

  const first = await succeeds(platform, token, id, LITTER.join('\n'));
  assert.is(first.start, 'cold');
  assertLittered(first, 'call 1');

  const second = await succeeds(platform, token, id, [...LOOK_AROUND, ...LITTER].join('\n'));
  assert.is(second.start, 'reused', 'call 2 is served by the container of call 1');
  assert.is(second.containerId, first.containerId);
  assertCleanSlate(second, 'call 2');
  assertLittered(second, 'call 2');

  const third = await succeeds(platform, token, id, LOOK_AROUND.join('\n'));
  assert.is(third.start, 'reused');
  assert.is(third.containerId, first.containerId);
  assertCleanSlate(third, 'call 3');

  const stored = await call(platform.server.url, 'GET', `/v1/executions/${third.executionId}`, { token });
  assert.is(stored.body.start, 'reused');
});

// ---- stdin and stdout stay paired over 200 executions, timeouts and OOM kills among them

/**
 * Reads `KIND NONCE` from its first line and prints the nonce; `sleep` outlives the timeout, `oom`
 * grows a string past the memory limit, `late` leaves a process that prints after it exited,
 * `flood` prints past the output limit.
 */
const ECHO_OR_MISBEHAVE = [
  'read -r kind nonce',
  'case "$kind" in',
  '  sleep) sleep 30 ;;',
  '  oom) x=a; while :; do x="$x$x"; done ;;',
  '  late) (sleep 0.2; printf %s " late-$nonce") & printf %s "$nonce" ;;',
  '  flood) printf %s "$nonce"; head -c 3000000 /dev/zero | tr "\\0" x ;;',
  '  *) printf %s "$nonce" ;;',
  'esac',
].join('\n');
const CALLS = 200;
/** FAASBOX_OUTPUT_LIMIT_BYTES's default: a `flood` answer holds this much of its stdout. */
const OUTPUT_LIMIT_BYTES = 1024 * 1024;
type Kind = 'echo' | 'big' | 'late' | 'flood' | 'sleep' | 'oom';
/** Mostly echoes; every 33 calls one times out and one is OOM-killed; some leave stdin unread, print late or print too much. */
function kindAt(index: number): Kind {
  if (index % 33 === 10) return 'sleep';
  if (index % 33 === 25) return 'oom';
  return ({ 3: 'big', 7: 'late', 9: 'flood' } as Record<number, Kind>)[index % 11] ?? 'echo';
}
const discards = (kind: Kind) => kind === 'sleep' || kind === 'oom';

test(`${CALLS} sequential executions: each answer carries its own stdin, timeouts and OOM kills discard their container`, async () => {
  const { token } = await signUp(platform.server.url, { tag: 'pairing' });
  const id = await createReusable(platform, token, { image: images.busybox, command: ['sh', '-c', ECHO_OR_MISBEHAVE], memoryMb: 16, timeoutMs: 1_500 });

  const containersUsed: string[] = [];
  let previous: { run: Run; kind: Kind } | null = null;
  for (let index = 0; index < CALLS; index++) {
    const kind = kindAt(index);
    const nonce = randomBytes(12).toString('hex');
    // `big`: 256 KiB after the first line, which the function never reads; the next call must not get them.
    const stdin = kind === 'big' ? `${kind} ${nonce}\n${randomBytes(128 * 1024).toString('hex')}` : `${kind} ${nonce}`;
    const run = await execute(platform, token, id, stdin);
    const { reply } = run;
    const where = `call ${index} (${kind}): ${JSON.stringify({ ...reply.body, stdout: reply.body.stdout?.slice(0, 200) })}`;
    if (kind === 'sleep') {
      assert.is(reply.status, 504, where);
      assert.is(reply.body.status, 'timedOut', where);
    } else if (kind === 'oom') {
      assert.is(reply.status, 200, where);
      assert.is(reply.body.status, 'failed', where);
      assert.is(reply.body.reason, 'out of memory: the function exceeded its 16 MB', where);
    } else {
      assert.is(reply.status, 200, where);
      assert.is(reply.body.status, 'succeeded', where);
      assert.is(reply.body.stderr, '', where);
    }
    // No output of another call, ever: only this call's nonce, or nothing from one that never printed.
    if (kind === 'flood') {
      assert.is(reply.body.truncated, true, where);
      assert.is(reply.body.stdout, nonce + 'x'.repeat(OUTPUT_LIMIT_BYTES - nonce.length), where);
    } else {
      assert.is(reply.body.stdout ?? '', discards(kind) ? '' : nonce, where);
    }

    // A container serves on until a call times out or is killed; the call after it gets a new one.
    if (previous === null || discards(previous.kind)) {
      assert.is(run.start, 'cold', where);
      assert.not.ok(containersUsed.includes(run.containerId), `${where}: a discarded container served again`);
      containersUsed.push(run.containerId);
    } else {
      assert.is(run.start, 'reused', where);
      assert.is(run.containerId, previous.run.containerId, where);
    }
    previous = { run, kind };
  }

  const discarding = Array.from({ length: CALLS }, (_, index) => kindAt(index)).filter(discards).length;
  assert.is(containersUsed.length, 1 + discarding);
  // Discarded means removed: only the container of the last calls may be left.
  await eventually('every discarded container is removed', 5_000, async () => {
    const left = await Promise.all(containersUsed.slice(0, -1).map(exists));
    return left.some(Boolean) ? undefined : true;
  });
  assert.ok(await exists(containersUsed.at(-1) as string), 'the container that served the last calls waits for the next');
});

test('executions at once never share a container; the next ones reuse those', async () => {
  const { token } = await signUp(platform.server.url, { tag: 'at-once' });
  const id = await createReusable(platform, token, { image: images.busybox, command: ['sh', '-c', 'sleep 0.5; cat'] });
  const waves: Run[][] = [];
  for (let wave = 0; wave < 3; wave++) {
    // At most FAASBOX_MAX_ACTIVE_PER_USER (4) at once.
    const runs = await Promise.all([0, 1, 2, 3].map((call) => succeeds(platform, token, id, `wave ${wave} call ${call}`)));
    runs.forEach((run, call) => assert.is(run.reply.body.stdout, `wave ${wave} call ${call}`));
    assert.is(new Set(runs.map((run) => run.containerId)).size, 4, `wave ${wave}: four containers for four executions at once`);
    waves.push(runs);
  }
  const firstWave = new Set(waves[0]!.map((run) => run.containerId));
  assert.equal(waves[0]!.map((run) => run.start), ['cold', 'cold', 'cold', 'cold']);
  for (const runs of waves.slice(1)) {
    assert.equal(runs.map((run) => run.start), ['reused', 'reused', 'reused', 'reused']);
    assert.ok(runs.every((run) => firstWave.has(run.containerId)), 'the containers of the first wave serve the next ones');
  }
});

test('a container its agent cannot make clean again is discarded: the next call gets a new one', async () => {
  const { token } = await signUp(platform.server.url, { tag: 'dirty' });
  const id = await createReusable(platform, token, { image: images.busybox, command: ['sh'] });
  const first = await succeeds(platform, token, id, 'echo one');
  // Lowering PID 1's priority is allowed to its uid, and no clean-up can undo it.
  const dirtying = await succeeds(platform, token, id, 'renice -n 5 -p 1 >/dev/null && echo reniced');
  assert.is(dirtying.reply.body.stdout, 'reniced\n');
  assert.is(dirtying.start, 'reused');
  assert.is(dirtying.containerId, first.containerId);
  const after = await succeeds(platform, token, id, 'echo three');
  assert.is(after.reply.body.stdout, 'three\n');
  assert.is(after.start, 'cold', 'the dirty container served no more');
  assert.is.not(after.containerId, first.containerId);
  await eventually('the dirty container is removed', 5_000, async () => ((await exists(first.containerId)) ? undefined : true));
});

test('minWarm with reuse: a container is ready before the first call, which it serves, and then the next ones', async () => {
  const { token } = await signUp(platform.server.url, { tag: 'min-warm' });
  const idleBefore = await idleReused(platform);
  const id = await createReusable(platform, token, { image: images.echo, minWarm: 1 });
  const [ready] = await eventually('a container is made before any call', 15_000, async () => {
    const listed = await docker.listContainers({ filters: { label: [`faasbox.prestarted=${id}`] } });
    return listed.length > 0 ? listed : undefined;
  }, 200);
  // Made is not yet ready: a call that comes while its agent starts is served by a new one.
  await eventually('the container waits ready for a call', 10_000, async () => ((await idleReused(platform)) > idleBefore ? true : undefined));
  const first = await succeeds(platform, token, id, 'one');
  assert.is(first.start, 'prestarted');
  assert.is(first.containerId, ready!.Id);
  const second = await succeeds(platform, token, id, 'two');
  assert.is(second.reply.body.stdout, 'two');
  assert.is(second.start, 'reused');
  assert.is(second.containerId, ready!.Id);
  const deleted = await call(platform.server.url, 'DELETE', `/v1/functions/${id}`, { token });
  assert.ok(deleted.status === 200 || deleted.status === 204, JSON.stringify(deleted.body));
  await noneLabelled(`faasbox.prestarted=${id}`, "the deleted function's kept-warm container is removed");
});

// ---- owners never share

test('two users with the identical function never share a container; each container is labelled with its own owner', async () => {
  const users = [await signUp(platform.server.url, { tag: 'owner-a' }), await signUp(platform.server.url, { tag: 'owner-b' })];
  const spec: FunctionInput = { name: 'same', image: images.busybox, command: ['sh', '-c', 'cat; echo; hostname'] };
  const functionIds = await Promise.all(users.map((user) => createReusable(platform, user.token, spec)));

  const seen = users.map(() => new Set<string>());
  for (let round = 0; round < 3; round++) {
    for (const [which, user] of users.entries()) {
      const run = await succeeds(platform, user.token, functionIds[which]!, `${user.id} round ${round}`);
      assert.is(run.reply.body.stdout, `${user.id} round ${round}\n${run.containerId.slice(0, 12)}\n`);
      assert.is(run.start, round === 0 ? 'cold' : 'reused', `user ${which}, round ${round}`);
      seen[which]!.add(run.containerId);
    }
  }
  const [ofA, ofB] = seen as [Set<string>, Set<string>];
  assert.is(ofA.size, 1, 'each user is served by one container');
  assert.is(ofB.size, 1);
  assert.not.ok([...ofA].some((containerId) => ofB.has(containerId)), 'no container served both users');

  for (const [which, user] of users.entries()) {
    for (const containerId of seen[which]!) {
      const labels = (await docker.getContainer(containerId).inspect()).Config.Labels;
      assert.is(labels['faasbox.owner'], user.id, `the container of user ${which} is labelled with its owner`);
      assert.is(labels['faasbox.prestarted'], functionIds[which]);
      assert.is(labels['faasbox.worker'], platform.workerId);
      assert.match(labels['faasbox.slot'] ?? '', /^[0-9a-f-]{36}$/);
    }
    const me = await call(platform.server.url, 'GET', '/v1/users/me', { token: user.token });
    assert.is(me.body.id, user.id, 'the owner label is the id the api knows the user by');
  }
});

// ---- deletion ends the containers

test("deleting a function removes its idle container within seconds, and its owner's other function keeps its own", async () => {
  const { token } = await signUp(platform.server.url, { tag: 'delete-fn' });
  const doomed = await createReusable(platform, token, { image: images.busybox, command: ['cat'] });
  const kept = await createReusable(platform, token, { image: images.busybox, command: ['cat'] });
  const keptRun = await succeeds(platform, token, kept, 'kept');
  await succeeds(platform, token, doomed, 'doomed');
  assert.is((await labelled(`faasbox.prestarted=${doomed}`)).length, 1, 'the idle container waits for the next call');

  const deleted = await call(platform.server.url, 'DELETE', `/v1/functions/${doomed}`, { token });
  assert.ok(deleted.status === 200 || deleted.status === 204, JSON.stringify(deleted.body));
  await noneLabelled(`faasbox.prestarted=${doomed}`, "the deleted function's container and its /tmp volume are removed");

  const again = await succeeds(platform, token, kept, 'kept again');
  assert.is(again.start, 'reused');
  assert.is(again.containerId, keptRun.containerId);
});

test('deleting a function while its container runs an execution removes the container once the execution ends', async () => {
  const { token } = await signUp(platform.server.url, { tag: 'delete-busy' });
  const id = await createReusable(platform, token, { image: images.busybox, command: ['sh'], timeoutMs: 20_000 });
  await succeeds(platform, token, id, 'true');
  const queued = await call(platform.server.url, 'POST', `/v1/functions/${id}/executions?wait=false`, { token, body: 'sleep 2; echo done' });
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  const executionPath = `/v1/executions/${queued.body.executionId}`;
  const running = await eventually('the execution runs', 5_000, async () => {
    const execution = await call(platform.server.url, 'GET', executionPath, { token });
    return execution.body.status === 'running' ? execution : undefined;
  });
  assert.is(running.body.start, 'reused');
  const deleted = await call(platform.server.url, 'DELETE', `/v1/functions/${id}`, { token });
  assert.ok(deleted.status === 200 || deleted.status === 204, JSON.stringify(deleted.body));
  await eventually('the execution ends', 10_000, async () => {
    const execution = await call(platform.server.url, 'GET', executionPath, { token });
    return execution.body.status === 'running' ? undefined : true;
  });
  await noneLabelled(`faasbox.prestarted=${id}`, "the deleted function's busy container is removed when its execution ends");
});

test('an execution queued before its function was deleted runs, and its container is removed after it', async () => {
  // The worker's four slots (FAASBOX_WORKER_CONCURRENCY) are taken by another user's calls.
  const other = await signUp(platform.server.url, { tag: 'blocker' });
  const blocker = await createReusable(platform, other.token, { image: images.busybox, command: ['sleep', '3'] });
  const blocking = await Promise.all([0, 1, 2, 3].map(() => call(platform.server.url, 'POST', `/v1/functions/${blocker}/executions?wait=false`, { token: other.token })));
  const statusOf = async (token: string, executionId: string) => (await call(platform.server.url, 'GET', `/v1/executions/${executionId}`, { token })).body;
  await eventually('the blocking calls run', 10_000, async () => {
    const states = await Promise.all(blocking.map((queued) => statusOf(other.token, queued.body.executionId)));
    return states.every((state) => state.status === 'running') ? true : undefined;
  });

  const { token } = await signUp(platform.server.url, { tag: 'delete-queued' });
  const id = await createReusable(platform, token, { image: images.busybox, command: ['cat'] });
  const queued = await call(platform.server.url, 'POST', `/v1/functions/${id}/executions?wait=false`, { token, body: 'late' });
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  assert.is((await statusOf(token, queued.body.executionId)).status, 'queued', 'it waits for a slot');
  const deleted = await call(platform.server.url, 'DELETE', `/v1/functions/${id}`, { token });
  assert.ok(deleted.status === 200 || deleted.status === 204, JSON.stringify(deleted.body));

  await eventually('the queued execution ends', 15_000, async () => {
    const state = await statusOf(token, queued.body.executionId);
    return state.status === 'queued' || state.status === 'running' ? undefined : true;
  });
  await noneLabelled(`faasbox.prestarted=${id}`, 'the container of an execution of a deleted function serves no other and is removed');
  await eventually('the blocking calls end', 10_000, async () => {
    const states = await Promise.all(blocking.map((queued) => statusOf(other.token, queued.body.executionId)));
    return states.every((state) => state.status === 'succeeded') ? true : undefined;
  });
});

test("deleting a user removes the containers of all the user's functions", async () => {
  const user = await signUp(platform.server.url, { tag: 'delete-user' });
  const ids = [
    await createReusable(platform, user.token, { image: images.busybox, command: ['cat'] }),
    await createReusable(platform, user.token, { image: images.echo }),
  ];
  for (const id of ids) await succeeds(platform, user.token, id, 'hello');
  assert.is((await labelled(`faasbox.owner=${user.id}`)).length, 2, "one idle container for each of the user's functions");

  const deleted = await call(platform.server.url, 'DELETE', '/v1/users/me', { token: user.token });
  assert.is(deleted.status, 200, JSON.stringify(deleted.body));
  await noneLabelled(`faasbox.owner=${user.id}`, "the deleted user's containers and their /tmp volumes are removed");
});

// ---- an image with no shell and no libc

test('an image with no shell and no libc is served by a reused container', async () => {
  const { token } = await signUp(platform.server.url, { tag: 'probe' });
  const id = await createReusable(platform, token, { image: images.probe, command: ['/probe', 'tmp'] });
  const first = await succeeds(platform, token, id, '');
  const second = await succeeds(platform, token, id, '');
  for (const run of [first, second]) assert.match(run.reply.body.stdout, /write=ok\n$/);
  assert.is(first.start, 'cold');
  assert.is(second.start, 'reused');
  assert.is(second.containerId, first.containerId);
});

// ---- the operator's settings

test('FAASBOX_REUSE=off: a function asking for reuse is refused with 400 naming the field', async () => {
  const off = await startPlatform('off', { FAASBOX_REUSE: 'off' });
  try {
    const { token } = await signUp(off.server.url, { tag: 'reuse-off' });
    const refused = await call(off.server.url, 'POST', '/v1/functions', { token, json: { name: 'fn', image: images.busybox, reuse: true } });
    assertProblem(refused, 400);
    assert.ok(
      (refused.body.errors as { field: string }[]).some((error) => error.field === 'reuse'),
      `the problem names the field reuse: ${JSON.stringify(refused.body)}`,
    );
    assert.match(refused.body.detail, /\breuse\b/);
    const listed = await call(off.server.url, 'GET', '/v1/functions', { token });
    assert.equal(listed.body.functions, [], 'nothing was created');

    const plain = await call(off.server.url, 'POST', '/v1/functions', { token, json: { name: 'fn', image: images.busybox, reuse: false } });
    assert.is(plain.status, 201, JSON.stringify(plain.body));
    assert.is(plain.body.reuse, false);
  } finally {
    assert.is(await off.server.stop(), 0);
  }
});

test('FAASBOX_REUSE_MAX_EXECUTIONS=3: three executions share a container, the fourth gets a new one', async () => {
  const capped = await startPlatform('max3', { FAASBOX_REUSE_MAX_EXECUTIONS: '3' });
  try {
    const { token } = await signUp(capped.server.url, { tag: 'reuse-max' });
    const id = await createReusable(capped, token, { image: images.echo });
    const runs: Run[] = [];
    for (let index = 1; index <= 4; index++) {
      const run = await succeeds(capped, token, id, `call ${index}`);
      assert.is(run.reply.body.stdout, `call ${index}`);
      runs.push(run);
    }
    assert.equal(runs.map((run) => run.start), ['cold', 'reused', 'reused', 'cold']);
    const [first, second, third, fourth] = runs as [Run, Run, Run, Run];
    assert.is(second.containerId, first.containerId);
    assert.is(third.containerId, first.containerId);
    assert.is.not(fourth.containerId, first.containerId);
    await eventually('the container that served its three executions is removed', 5_000, async () => ((await exists(first.containerId)) ? undefined : true));
  } finally {
    assert.is(await capped.server.stop(), 0);
  }
});

test('the platforms stop cleanly and leave no container or /tmp volume behind', async () => {
  try {
    assert.ok(platform, 'the platform started');
    assert.is(await platform.server.stop(), 0);
    const left = (
      await Promise.all(workerIds.map(async (workerId) => [...(await labelled(`faasbox.worker=${workerId}`)), ...(await volumesLabelled(`faasbox.worker=${workerId}`))]))
    ).flat();
    // Removed here whatever the verdict, so that a failure leaks nothing into the next suites.
    await Promise.all(
      left.map((thing) =>
        'Id' in thing ? docker.getContainer(thing.Id).remove({ force: true, v: true }).catch(() => {}) : docker.getVolume(thing.Name).remove().catch(() => {}),
      ),
    );
    assert.equal(
      left.map((thing) => ('Id' in thing ? `container ${thing.Names[0]}` : `volume ${thing.Name}`)),
      [],
      'the server removes its reused containers when it stops',
    );
  } finally {
    await registry?.stop();
  }
});

test.run();
