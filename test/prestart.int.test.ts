/**
 * Pre-started containers over the real engine: an execution that finds one ready behaves as a
 * cold one does (each its own fresh container, the same limits, the same outcomes), only sooner.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ContainerRunOutcome, StartKind } from '../src/domain/execution-outcome.ts';
import type { ContainerRunSpec } from '../src/ports/container-runtime.ts';
import { BUILT_AGENT_PATH } from '../worker/agent/binary.ts';
import { type DockerRuntime, type PrestartSettings, createDockerRuntime, reapOrphans } from '../worker/docker/index.ts';
import { eventually } from './support/eventually.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';

const docker = new Docker();
// Each runtime is a worker of its own, so that one test's pool is not another's leftover.
const suiteId = `prestart-test-${randomUUID().slice(0, 8)}`;
const settings: PrestartSettings = { perFunction: 3, total: 8, idleMs: 60_000, maxAgeMs: 600_000 };
const runtimes: DockerRuntime[] = [];
const workerOf = new Map<DockerRuntime, string>();
const runtimeWith = (prestart: Partial<PrestartSettings> = {}) => {
  const workerId = `${suiteId}-${runtimes.length}`;
  const runtime = createDockerRuntime(docker, { workerId, agentPath: BUILT_AGENT_PATH, prestart: { ...settings, ...prestart } });
  runtimes.push(runtime);
  workerOf.set(runtime, workerId);
  return runtime;
};
let registry: Registry;
let images: TestImages;

type Ran = { outcome: ContainerRunOutcome; start: StartKind | null; containerId: string | null };
type Exited = Extract<ContainerRunOutcome, { kind: 'exited' }>;

const sh = (script: string) => ['sh', '-c', script];
const bytes = (text: string) => new TextEncoder().encode(text);

/** One function: its spec, apart from each execution's own id, stdin and overrides. */
function functionSpec(overrides: Partial<ContainerRunSpec> = {}) {
  const base = { functionId: randomUUID(), ownerId: randomUUID(), image: images.busybox, command: sh('cat'), env: {}, timeoutMs: 10_000, memoryMb: 64, reuse: false, ...overrides };
  return async (runtime: DockerRuntime, execution: Partial<ContainerRunSpec> = {}): Promise<Ran> => {
    let start: StartKind | null = null;
    let containerId: string | null = null;
    const outcome = await runtime.run({
      executionId: randomUUID(),
      correlationId: randomUUID(),
      stdin: new Uint8Array(),
      ...base,
      ...execution,
      onStarted: async (id, kind) => {
        containerId = id;
        start = kind;
      },
    });
    await runtime.removalsSettled();
    return { outcome, start, containerId };
  };
}

const ready = (runtime: DockerRuntime, count: number) =>
  eventually(`${count} pre-started container(s) ready`, 20_000, async () => {
    const counts = runtime.poolCounts();
    return counts.ready >= count && counts.starting === 0 ? counts : undefined;
  });

function asExited(ran: Ran): Exited {
  assert.is(ran.outcome.kind, 'exited', JSON.stringify(ran.outcome));
  return ran.outcome as Exited;
}

const containersOf = async (runtime: DockerRuntime) =>
  (await docker.listContainers({ all: true, filters: { label: [`faasbox.worker=${workerOf.get(runtime)}`] } })).map((c) => c.Id);
const ofThisSuite = async () =>
  (await docker.listContainers({ all: true })).filter((c) => c.Labels['faasbox.worker']?.startsWith(suiteId)).map((c) => c.Id);

const test = suite('pre-started containers [real engine]');

test('a loopback registry serves the test images', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
});

test('the first call starts cold and leaves one ready; the next takes it, with its own container, and the pool fills again', async () => {
  const runtime = runtimeWith();
  const run = functionSpec({ command: sh('cat; hostname') });
  const first = await run(runtime, { stdin: bytes('one ') });
  assert.is(first.start, 'cold');
  assert.match(asExited(first).stdout, /^one [0-9a-f]{12}\n$/);
  await ready(runtime, 1);
  const second = await run(runtime, { stdin: bytes('two ') });
  assert.is(second.start, 'prestarted');
  assert.match(asExited(second).stdout, /^two [0-9a-f]{12}\n$/);
  assert.is.not(second.containerId, first.containerId);
  assert.is.not(asExited(second).stdout.slice(4), asExited(first).stdout.slice(4), 'each its own hostname');
  const counts = await ready(runtime, 1);
  assert.equal({ hits: counts.hits, misses: counts.misses }, { hits: 1, misses: 1 });
  const left = await containersOf(runtime);
  assert.is(left.length, 1, 'only the one pre-started for the next call');
  assert.not.ok(left.includes(second.containerId as string), 'the used container is removed');
});

test('a pre-started function prints the time of the call, not of the pre-start, and sees nothing of the call before', async () => {
  const runtime = runtimeWith();
  const run = functionSpec({ command: sh('date +%s; ls -A /tmp | wc -l; ps -o comm | grep -c sleep; echo left > /tmp/mark; sleep 300 >/dev/null 2>&1 &') });
  asExited(await run(runtime));
  await ready(runtime, 1);
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  const calledAt = Date.now() / 1000;
  const warm = await run(runtime);
  assert.is(warm.start, 'prestarted');
  const [printed, tmp, sleepers] = asExited(warm).stdout.split('\n');
  assert.ok(Math.abs(Number(printed) - calledAt) <= 1.5, `printed ${printed}, called at ${calledAt}`);
  assert.is(tmp?.trim(), '0', 'an empty /tmp: the file of the call before is absent');
  assert.is(sleepers, '0', 'the background process of the call before is gone');
});

test('stdin of several MB and empty stdin, the output cap, stderr and exit codes are as in a cold run', async () => {
  const runtime = runtimeWith();
  const echo = functionSpec({ command: sh('cat; echo err >&2; exit 3') });
  asExited(await echo(runtime));
  await ready(runtime, 1);
  const big = Buffer.alloc(5 * 1024 * 1024 + 3);
  for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
  const large = await echo(runtime, { stdin: big });
  assert.is(large.start, 'prestarted');
  const out = asExited(large);
  assert.is(out.exitCode, 3);
  assert.is(out.stderr, 'err\n');
  assert.is(out.stdout.length, 1024 * 1024, 'capped at the output limit');
  assert.is(out.truncated, true);
  assert.is(out.stdout, big.subarray(0, 1024 * 1024).toString('latin1'));
  await ready(runtime, 1);
  const empty = await echo(runtime, { stdin: new Uint8Array() });
  assert.is(empty.start, 'prestarted');
  assert.equal({ ...asExited(empty), durationMs: 0 }, { kind: 'exited', exitCode: 3, oomKilled: false, stdout: '', stderr: 'err\n', truncated: false, durationMs: 0 });
});

test('the memory limit, the timeout and a missing command end a pre-started run as they end a cold one', async () => {
  const runtime = runtimeWith();
  const hog = functionSpec({ command: sh('read go; x=0123456789; while true; do x="$x$x"; done'), memoryMb: 16 });
  asExited(await hog(runtime, { stdin: bytes('\n') }));
  await ready(runtime, 1);
  const oom = await hog(runtime, { stdin: bytes('go\n') });
  assert.is(oom.start, 'prestarted');
  assert.equal([asExited(oom).oomKilled, asExited(oom).exitCode], [true, 137]);

  const sleeper = functionSpec({ command: sh("read t; [ -z \"$t\" ] && exit 0; echo before; trap '' TERM; sleep 30"), timeoutMs: 1000 });
  await sleeper(runtime);
  await ready(runtime, 2);
  const slow = await sleeper(runtime, { stdin: bytes('sleep\n') });
  assert.is(slow.start, 'prestarted');
  assert.is(slow.outcome.kind, 'timedOut', JSON.stringify(slow.outcome));
  const timedOut = slow.outcome as Extract<ContainerRunOutcome, { kind: 'timedOut' }>;
  assert.is(timedOut.stdout, 'before\n');
  assert.ok(timedOut.durationMs >= 1000 && timedOut.durationMs < 2500, `durationMs ${timedOut.durationMs}`);

  const missing = functionSpec({ command: ['/no/such/program'] });
  const cold = await missing(runtime);
  assert.equal(cold.outcome, { kind: 'failed', reason: 'container could not start: exec /no/such/program failed: No such file or directory', started: false });
  await ready(runtime, 3);
  const warm = await missing(runtime);
  assert.is(warm.start, 'prestarted');
  assert.equal(warm.outcome, cold.outcome);
});

test('a burst of three after a burst of three is served pre-started; a changed spec is a miss that drops the old ones', async () => {
  const runtime = runtimeWith();
  const run = functionSpec({ command: sh('cat') });
  const burst = () => Promise.all([1, 2, 3].map((n) => run(runtime, { stdin: bytes(String(n)) })));
  const cold = await burst();
  assert.equal(cold.map((ran) => ran.start), ['cold', 'cold', 'cold']);
  await ready(runtime, 3);
  const warm = await burst();
  assert.equal(warm.map((ran) => ran.start), ['prestarted', 'prestarted', 'prestarted']);
  assert.equal(warm.map((ran) => asExited(ran).stdout), ['1', '2', '3'], 'each its own stdin');
  await ready(runtime, 3);
  const changed = functionSpec({ command: sh('cat') });
  const other = await changed(runtime);
  assert.is(other.start, 'cold', 'another function: nothing of the first one is used');
});

test('an idle function keeps nothing: its pre-started containers are removed after the idle time', async () => {
  const runtime = runtimeWith({ idleMs: 1_500 });
  const run = functionSpec({ command: ['true'] });
  asExited(await run(runtime));
  await ready(runtime, 1);
  await eventually('the idle pool empties', 10_000, async () => (runtime.poolCounts().ready === 0 && (await containersOf(runtime)).length === 0 ? true : undefined));
});

test('a warm target keeps minWarm ready before any call and past the idle time; cleared, it lets them go; retired, they go at once', async () => {
  const runtime = runtimeWith({ idleMs: 1_500 });
  const target = { functionId: randomUUID(), ownerId: randomUUID(), image: images.busybox, command: sh('cat; echo warm'), env: { MODE: 'target' }, memoryMb: 64 };
  runtime.setWarmTarget(target.functionId, { ...target, minWarm: 2 });
  await ready(runtime, 2);
  assert.equal(runtime.warm.list(), [target.functionId]);
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  assert.is(runtime.poolCounts().ready, 2, 'kept past the idle time');
  // A call with the same spec takes one of them.
  const ran = await functionSpec(target)(runtime, { stdin: bytes('x ') });
  assert.is(ran.start, 'prestarted');
  assert.is(asExited(ran).stdout, 'x warm\n');
  await ready(runtime, 2);
  runtime.setWarmTarget(target.functionId, null);
  await eventually('idle again, and no target: none kept', 10_000, async () => (runtime.poolCounts().ready === 0 ? true : undefined));
  runtime.setWarmTarget(target.functionId, { ...target, minWarm: 1 });
  await ready(runtime, 1);
  const retiredAt = Date.now();
  runtime.retireFunction(target.functionId);
  await runtime.removalsSettled();
  assert.equal(runtime.warm.list(), []);
  assert.equal(await containersOf(runtime), []);
  assert.ok(Date.now() - retiredAt < 5_000);
});

test("this worker's pre-started containers left by an earlier run are reaped; its live ones and another live worker's are not", async () => {
  const earlier = runtimeWith();
  const run = functionSpec({ command: ['true'] });
  asExited(await run(earlier));
  // The run's own container goes after its answer: only the pool's is left to find.
  await earlier.removalsSettled();
  await ready(earlier, 1);
  const [leftOver] = await containersOf(earlier);
  const workerId = workerOf.get(earlier) as string;
  const rules = { isInFlight: () => false, report: async () => {}, overdueAfterMs: 60_000, prestartedMaxAgeMs: 600_000 };
  const asLive = await reapOrphans(docker, { ...rules, workerId, isOwned: (container) => earlier.owns(container) });
  assert.equal(asLive.removed, [], 'held by the live runtime');
  const asOther = await reapOrphans(docker, { ...rules, workerId: 'another-worker', isOwned: () => false });
  assert.equal(asOther.removed, [], 'another worker cannot tell it from a live one before its maximum age');
  const restarted = await reapOrphans(docker, { ...rules, workerId, isOwned: () => false });
  assert.equal(restarted.removed.map((c) => [c.containerId, c.executionId, c.why]), [[leftOver, null, 'left by an earlier run of this worker']]);
  assert.equal(await containersOf(earlier), []);
});

test('closing the runtimes removes every pre-started container; nothing of this suite is left', async () => {
  await Promise.all(runtimes.map((runtime) => runtime.close()));
  await registry.stop();
  assert.equal(await ofThisSuite(), []);
});

test.run();
