/**
 * A call's secrets (Job.secretEnv) over the real engine, the real agent and the worker's Docker
 * runtime: they reach the function's process environment with the go, and nothing else. Not the
 * container's config (`docker inspect`), cold, pre-started from a warm target before any call, or
 * reused; not the next call of a reused or pre-started function; not the worker's logs or the
 * statuses it publishes. What the agent would refuse fails the run before any container, in words
 * that name no value.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createInProcessJobBus } from '../src/adapters/job-bus/index.ts';
import type { ContainerRunOutcome, StartKind } from '../src/domain/execution-outcome.ts';
import type { ContainerRunSpec } from '../src/ports/container-runtime.ts';
import { type Job, type StatusMessage, encodeJobStdin } from '../src/ports/job-bus.ts';
import { BUILT_AGENT_PATH } from '../worker/agent/binary.ts';
import { type DockerRuntime, type DockerRuntimeOptions, createDockerRuntime } from '../worker/docker/index.ts';
import { startWorker } from '../worker/worker.ts';
import { eventually, within } from './support/eventually.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';

const docker = new Docker();
const suiteId = `secret-env-test-${randomUUID().slice(0, 8)}`;
const runtimes: DockerRuntime[] = [];
const runtimeWith = (options: Partial<DockerRuntimeOptions> = {}) => {
  const runtime = createDockerRuntime(docker, { workerId: `${suiteId}-${runtimes.length}`, agentPath: BUILT_AGENT_PATH, ...options });
  runtimes.push(runtime);
  return runtime;
};
let registry: Registry;
let images: TestImages;

/** Values that must show up in the function's environment and nowhere else. */
const SECRET = `s3cret-${randomUUID()}`;
const NEW_SECRET = `rotated-${randomUUID()}`;

const sh = (script: string) => ['sh', '-c', script];
/** Prints the variable's value, or `unset`. */
const printSecret = sh('echo "${SECRET_X-unset}"');

type Exited = Extract<ContainerRunOutcome, { kind: 'exited' }>;
/** One run, and what the engine said of its container while it ran. */
type Ran = { outcome: ContainerRunOutcome; start: StartKind | null; containerId: string | null; inspected: string };

/** One function: what its runs share, apart from each run's own id, stdin, secrets and overrides. */
function functionOf(overrides: Partial<ContainerRunSpec> = {}) {
  const base = { functionId: randomUUID(), ownerId: randomUUID(), image: images.busybox, command: printSecret, env: {}, timeoutMs: 10_000, memoryMb: 64, reuse: false, ...overrides };
  const run = async (runtime: DockerRuntime, execution: Partial<ContainerRunSpec> = {}): Promise<Ran> => {
    const ran: Ran = { outcome: { kind: 'failed', reason: 'not run', started: false }, start: null, containerId: null, inspected: '' };
    ran.outcome = await runtime.run({
      executionId: randomUUID(),
      correlationId: randomUUID(),
      stdin: new Uint8Array(),
      ...base,
      ...execution,
      onStarted: async (id, kind) => {
        ran.containerId = id;
        ran.start = kind;
        // Before the go: all the container will ever hold in its config is there already.
        ran.inspected = JSON.stringify(await docker.getContainer(id).inspect());
      },
    });
    await runtime.removalsSettled();
    return ran;
  };
  return { ...base, run };
}

function stdoutOf(ran: Ran): string {
  assert.is(ran.outcome.kind, 'exited', JSON.stringify(ran.outcome));
  return (ran.outcome as Exited).stdout;
}

/** Every container of this suite, inspected, as JSON: none may hold a secret. */
const inspectAll = async () => {
  const containers = (await docker.listContainers({ all: true })).filter((c) => c.Labels['faasbox.worker']?.startsWith(suiteId));
  return Promise.all(containers.map(async (c) => JSON.stringify(await docker.getContainer(c.Id).inspect())));
};

const assertNoSecretIn = (what: string, text: string) => {
  for (const value of [SECRET, NEW_SECRET]) assert.not.ok(text.includes(value), `${what} holds a secret`);
};

const test = suite('secrets with the go [real engine]');

test('a loopback registry serves the test images', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
});

test('cold: the function sees its secrets, over its env by the same name; the container\'s config holds none', async () => {
  const runtime = runtimeWith();
  const fn = functionOf({ command: sh('echo "$SECRET_X|$PLAIN|${UNSET-unset}"'), env: { SECRET_X: 'from the env', PLAIN: 'plain' } });
  const ran = await fn.run(runtime, { secretEnv: { SECRET_X: SECRET } });
  assert.is(ran.start, 'cold');
  assert.is(stdoutOf(ran), `${SECRET}|plain|unset\n`);
  assert.ok(ran.inspected.includes('SECRET_X=from the env'), 'the inspection shows the env');
  assertNoSecretIn('docker inspect', ran.inspected);
  assert.is(stdoutOf(await fn.run(runtime)), 'from the env|plain|unset\n', 'the next call, without secrets');
});

test('an image with no shell and no libc gets its secrets too', async () => {
  const fn = functionOf({ image: images.probe, command: ['/probe', 'env', 'SECRET_X'] });
  const ran = await fn.run(runtimeWith(), { secretEnv: { SECRET_X: SECRET } });
  assert.is(stdoutOf(ran), `SECRET_X=${SECRET}\n`);
  assertNoSecretIn('docker inspect', ran.inspected);
});

test('pre-started from a warm target before any call: the call gets its secrets, a changed secret holds from the next call, and no pooled container holds one', async () => {
  const runtime = runtimeWith({ prestart: { perFunction: 2, total: 4, idleMs: 60_000, maxAgeMs: 600_000 } });
  const fn = functionOf();
  const ready = (count: number) =>
    eventually(`${count} pre-started`, 20_000, async () => (runtime.poolCounts().ready >= count && runtime.poolCounts().starting === 0 ? true : undefined));
  runtime.setWarmTarget(fn.functionId, { functionId: fn.functionId, ownerId: fn.ownerId, image: fn.image, command: fn.command, env: fn.env, memoryMb: fn.memoryMb, minWarm: 1 });
  await ready(1);

  const first = await fn.run(runtime, { secretEnv: { SECRET_X: SECRET } });
  assert.is(first.start, 'prestarted');
  assert.is(stdoutOf(first), `${SECRET}\n`);
  await ready(1);
  const rotated = await fn.run(runtime, { secretEnv: { SECRET_X: NEW_SECRET } });
  assert.is(rotated.start, 'prestarted');
  assert.is(stdoutOf(rotated), `${NEW_SECRET}\n`);
  await ready(1);
  const without = await fn.run(runtime);
  assert.is(without.start, 'prestarted');
  assert.is(stdoutOf(without), 'unset\n');

  await ready(1);
  for (const ran of [first, rotated, without]) assertNoSecretIn('docker inspect of a pre-started container', ran.inspected);
  for (const inspected of await inspectAll()) assertNoSecretIn('docker inspect of a pooled container', inspected);
});

test('reused: each call sees its own secrets only, a changed secret holds from the next call, and the container\'s config holds none', async () => {
  const runtime = runtimeWith({ reuse: { maxExecutions: 100, maxAgeMs: 600_000, idleMs: 60_000, perFunction: 1 } });
  const fn = functionOf({ reuse: true, command: sh('echo "${SECRET_X-unset}"; export SECRET_X; sleep 1000 &') });
  const first = await fn.run(runtime, { secretEnv: { SECRET_X: SECRET } });
  const without = await fn.run(runtime);
  const rotated = await fn.run(runtime, { secretEnv: { SECRET_X: NEW_SECRET } });
  assert.equal([first, without, rotated].map(stdoutOf), [`${SECRET}\n`, 'unset\n', `${NEW_SECRET}\n`]);
  assert.ok(first.containerId !== null && without.containerId === first.containerId && rotated.containerId === first.containerId, 'one container served the three');
  for (const ran of [first, without, rotated]) assertNoSecretIn('docker inspect of the reused container', ran.inspected);
  for (const inspected of await inspectAll()) assertNoSecretIn('docker inspect of the reused container', inspected);
});

test('secrets the agent would refuse fail the run before any container: a start failure whose reason names no value', async () => {
  const runtime = runtimeWith({ reuse: { maxExecutions: 100, maxAgeMs: 600_000, idleMs: 60_000, perFunction: 1 } });
  const refused: [Record<string, string>, string][] = [
    [{ 'A=B': SECRET }, `container could not start: env refused: variable "A=B": its name holds '=' or NUL`],
    [{ OK: `${SECRET}\0B=1` }, 'container could not start: env refused: variable "OK": its value holds NUL'],
    [{ '': SECRET }, 'container could not start: env refused: a variable has an empty name'],
    [{ BIG: SECRET.repeat(2000) }, `container could not start: env refused: ${8 + 3 + SECRET.length * 2000} bytes, more than 65536`],
  ];
  const before = (await inspectAll()).length;
  for (const reuse of [false, true]) {
    const fn = functionOf({ reuse });
    for (const [secretEnv, reason] of refused) {
      const ran = await fn.run(runtime, { secretEnv });
      assert.equal(ran.outcome, { kind: 'failed', reason, started: false });
      assert.is(ran.start, null, 'never started, so never acked');
    }
  }
  assert.is((await inspectAll()).length, before, 'no container was made for them');
});

test('through the worker: a job\'s secretEnv reaches the function, and neither the worker\'s logs nor its statuses hold it', async () => {
  const runtime = runtimeWith();
  const bus = createInProcessJobBus();
  const lines: string[] = [];
  const worker = startWorker(bus, runtime, (level, message, fields) => lines.push(JSON.stringify({ level, message, fields })), { workerId: `${suiteId}-worker`, concurrency: 1 });
  try {
    const job: Job = {
      executionId: randomUUID(),
      functionId: randomUUID(),
      ownerId: randomUUID(),
      image: images.busybox,
      // The function says whether it got the value without printing it: any output is the function's own to give.
      command: sh('[ "$SECRET_X" = "$(cat)" ] && echo match || echo mismatch'),
      env: {},
      secretEnv: { SECRET_X: SECRET },
      timeoutMs: 10_000,
      memoryMb: 64,
      stdin: encodeJobStdin(new TextEncoder().encode(SECRET)),
      deadline: new Date(Date.now() + 60_000).toISOString(),
      correlationId: randomUUID(),
    };
    const statuses: StatusMessage[] = [];
    let final: (status: StatusMessage) => void = () => {};
    const ended = new Promise<StatusMessage>((resolve) => (final = resolve));
    const watch = await bus.watchStatuses(job.executionId, (status) => {
      statuses.push(status);
      if (status.type !== 'started') final(status);
    });
    await bus.publishJob(job);
    const status = await within(ended, 30_000, 'the final status');
    await watch.close();
    assert.is(status.type, 'succeeded', JSON.stringify(status));
    assert.is((status as { stdout?: string }).stdout, 'match\n');
    assertNoSecretIn('a status', JSON.stringify(statuses));
    assert.ok(lines.some((line) => line.includes('execution finished')), lines.join('\n'));
    assertNoSecretIn("the worker's log", lines.join('\n'));
  } finally {
    await worker.stop();
    await bus.close();
  }
});

test('the runtimes close, the registry stops, and no container of this suite is left', async () => {
  await Promise.all(runtimes.map((runtime) => runtime.close()));
  await registry.stop();
  assert.equal(await inspectAll(), []);
  for (const image of [images.busybox, images.probe]) await docker.getImage(image).remove().catch(() => {});
});

test.run();
