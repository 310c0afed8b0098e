/**
 * The Docker ContainerRuntime over the real engine and a real registry on loopback: the images
 * are built from busybox-static by deploy/test-images/build.sh and pulled by the runtime itself.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ContainerRunOutcome } from '../src/domain/execution-outcome.ts';
import type { ContainerRunSpec } from '../src/ports/container-runtime.ts';
import { type DockerRuntime, type DockerRuntimeOptions, createDockerRuntime } from '../worker/docker/index.ts';
import { BUILT_AGENT_PATH } from '../worker/agent/binary.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';
import { hasImage } from '../worker/docker-engine.ts';

const docker = new Docker();
// Other suites may run containers on the same engine at the same time: this one only looks at
// containers carrying its own worker id.
const workerId = `docker-runtime-test-${randomUUID().slice(0, 8)}`;
const runtimeWith = (options: Partial<DockerRuntimeOptions> = {}, engine = docker) =>
  createDockerRuntime(engine, { workerId, agentPath: BUILT_AGENT_PATH, ...options });
const runtime = runtimeWith();
let registry: Registry;
let images: TestImages;

type Exited = Extract<ContainerRunOutcome, { kind: 'exited' }>;
type TimedOut = Extract<ContainerRunOutcome, { kind: 'timedOut' }>;
type Failed = Extract<ContainerRunOutcome, { kind: 'failed' }>;

const sh = (script: string) => ['sh', '-c', script];

function specOf(overrides: Partial<ContainerRunSpec>): ContainerRunSpec {
  return {
    executionId: randomUUID(),
    functionId: randomUUID(),
    ownerId: randomUUID(),
    image: images.busybox,
    command: null,
    env: {},
    reuse: false,
    stdin: new Uint8Array(),
    timeoutMs: 10_000,
    memoryMb: 64,
    correlationId: randomUUID(),
    onStarted: async () => {},
    ...overrides,
  };
}

/** Runs one execution and checks that its container is gone afterwards, whatever the outcome. */
async function run(overrides: Partial<ContainerRunSpec>, using: DockerRuntime = runtime): Promise<ContainerRunOutcome> {
  const spec = specOf(overrides);
  const outcome = await using.run(spec);
  // Removed off the request path, right after the outcome.
  await using.removalsSettled();
  assert.equal(await containersLabelled(`faasbox.execution=${spec.executionId}`), [], 'the container is removed');
  return outcome;
}

function asExited(outcome: ContainerRunOutcome): Exited {
  assert.is(outcome.kind, 'exited', JSON.stringify(outcome));
  return outcome as Exited;
}

function asFailed(outcome: ContainerRunOutcome): Failed {
  assert.is(outcome.kind, 'failed', JSON.stringify(outcome));
  return outcome as Failed;
}

async function containersLabelled(...labels: string[]): Promise<string[]> {
  const found = await docker.listContainers({ all: true, filters: { label: [`faasbox.worker=${workerId}`, ...labels] } });
  return found.map((container) => `${container.Names.join(',')} ${container.State}`);
}


// The first test starts the registry, so a failure there fails a test instead of vanishing in a hook.
const test = suite('docker runtime');

test('a loopback registry serves the test images, which the engine does not have yet', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
  assert.is(await hasImage(docker, images.busybox), false);
  assert.is(await hasImage(docker, images.echo), false);
  await runtime.ping();
});

test('first use pulls the image; onStarted is called once, with the running, hardened container, before the outcome', async () => {
  const events: string[] = [];
  let inspected: Docker.ContainerInspectInfo | undefined;
  const spec = specOf({
    command: sh('echo hello'),
    onStarted: async (containerId, start) => {
      events.push(`started ${containerId} ${start}`);
      inspected = await docker.getContainer(containerId).inspect();
    },
  });
  const outcome = asExited(await runtime.run(spec));
  events.push('outcome');
  await runtime.removalsSettled();

  assert.is(outcome.exitCode, 0);
  assert.is(outcome.stdout, 'hello\n');
  assert.is(await hasImage(docker, images.busybox), true, 'pulled');
  assert.is(events.length, 2, events.join('; '));
  assert.match(events[0] ?? '', /^started [0-9a-f]{64} cold$/);
  assert.is(events[1], 'outcome');

  const info = inspected as Docker.ContainerInspectInfo;
  assert.is(info.Id, events[0]?.split(' ')[1]);
  assert.is(info.Name, `/faasbox-${spec.executionId}`);
  assert.equal(info.Config.Labels, {
    'faasbox.execution': spec.executionId,
    'faasbox.worker': workerId,
    'faasbox.correlation': spec.correlationId,
  });
  const host = info.HostConfig;
  assert.is(host.NetworkMode, 'none');
  assert.is(host.ReadonlyRootfs, true);
  assert.equal(host.CapDrop, ['ALL']);
  assert.equal(host.SecurityOpt, ['no-new-privileges']);
  assert.is(host.PidsLimit, 128);
  assert.equal(host.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 4096 }]);
  assert.equal(
    info.Mounts.map(({ Type, Destination }) => ({ Type, Destination })).sort((a, b) => a.Destination.localeCompare(b.Destination)),
    [
      { Type: 'bind', Destination: '/.faasbox-agent' },
      { Type: 'volume', Destination: '/tmp' },
    ],
  );
  assert.is(info.Mounts.find((mount) => mount.Type === 'bind')?.RW, false, 'the agent is mounted read-only');
  assert.equal(info.Config.Entrypoint, ['/.faasbox-agent'], 'the agent is PID 1');
  assert.equal(info.Config.Cmd, ['sh', '-c', 'echo hello']);
  assert.is(host.Memory, 64 * 1024 * 1024);
  assert.is(host.MemorySwap, 64 * 1024 * 1024);
  assert.is(host.NanoCpus, 1e9);
  assert.is(host.Init, false, 'the agent reaps, not docker-init');
  assert.is(host.LogConfig?.Type, 'none');
  assert.is(info.Config.User, '65534:65534');
  assert.equal(await containersLabelled(`faasbox.execution=${spec.executionId}`), []);
});

/** A Docker client that counts the pulls it starts. */
function countingPulls(): { docker: Docker; pulls: () => number } {
  const counting = new Docker();
  const pull = counting.pull.bind(counting) as (...args: unknown[]) => unknown;
  let pulls = 0;
  (counting as unknown as { pull: typeof pull }).pull = (...args) => {
    pulls += 1;
    return pull(...args);
  };
  return { docker: counting, pulls: () => pulls };
}

test('concurrent runs of an absent image share one pull and both succeed; stdin reaches the default command', async () => {
  const counting = countingPulls();
  const shared = runtimeWith({}, counting.docker);
  const input = (text: string) => new TextEncoder().encode(text);

  const [first, second] = await Promise.all([
    run({ image: images.echo, stdin: input('first\nbody') }, shared),
    run({ image: images.echo, stdin: input('second body ✓') }, shared),
  ]);
  assert.is(asExited(first).stdout, 'first\nbody');
  assert.is(asExited(second).stdout, 'second body ✓');
  assert.is(asExited(first).exitCode, 0);
  assert.is(counting.pulls(), 1);
  assert.is(await hasImage(docker, images.echo), true);
});

test('with the pull policy "always", an image present is pulled again', async () => {
  const counting = countingPulls();
  const always = runtimeWith({ pullPolicy: 'always' }, counting.docker);
  assert.is(await hasImage(docker, images.busybox), true);
  asExited(await run({ command: ['true'] }, always));
  asExited(await run({ command: ['true'] }, always));
  assert.is(counting.pulls(), 2);
});

test('an image seen once is not looked up again; removed behind the runtime, it is pulled again by the next run', async () => {
  const counting = countingPulls();
  const inspections = { count: 0 };
  const getImage = counting.docker.getImage.bind(counting.docker);
  counting.docker.getImage = (name: string) => {
    const image = getImage(name);
    const inspect = image.inspect.bind(image);
    image.inspect = ((...args: Parameters<typeof inspect>) => {
      inspections.count += 1;
      return inspect(...args);
    }) as typeof image.inspect;
    return image;
  };
  const seeing = runtimeWith({}, counting.docker);
  asExited(await run({ command: ['true'] }, seeing));
  asExited(await run({ command: ['true'] }, seeing));
  assert.is(inspections.count, 1, 'one look at the engine for two runs');
  assert.is(counting.pulls(), 0, 'the image was there');

  await docker.getImage(images.busybox).remove({ force: true });
  const phases: string[] = [];
  const again = asExited(await run({ command: sh('echo again'), onPhase: (phase) => phases.push(phase) }, seeing));
  assert.is(again.stdout, 'again\n');
  assert.is(counting.pulls(), 1);
  assert.is(await hasImage(docker, images.busybox), true);
  assert.equal(phases, ['pull', 'createStart', 'run', 'remove'], 'each phase reported once');
});

test('a start that cannot be reported ends the run as failed before the function ran, and the container is removed', async () => {
  const failed = asFailed(
    await run({
      command: sh('sleep 30'),
      onStarted: async () => {
        throw new Error('ack refused');
      },
    }),
  );
  assert.equal(failed, { kind: 'failed', reason: 'start could not be reported: ack refused', started: false });
});

test('a non-zero exit comes back with stdout and stderr apart', async () => {
  const outcome = asExited(await run({ command: sh('echo out; echo err >&2; echo more; exit 3') }));
  assert.is(outcome.exitCode, 3);
  assert.is(outcome.stdout, 'out\nmore\n');
  assert.is(outcome.stderr, 'err\n');
  assert.is(outcome.oomKilled, false);
  assert.is(outcome.truncated, false);
  assert.ok(outcome.durationMs >= 0 && outcome.durationMs < 5000, String(outcome.durationMs));
});

test('the env of the spec is visible to the function', async () => {
  const outcome = asExited(await run({ command: sh('echo "$GREETING"; echo "[$EMPTY]"'), env: { GREETING: 'hello world', EMPTY: '' } }));
  assert.is(outcome.stdout, 'hello world\n[]\n');
});

test('the only network interface is loopback', async () => {
  const outcome = asExited(await run({ command: ['ls', '/sys/class/net'] }));
  assert.is(outcome.stdout.trim(), 'lo');
});

test('the function runs with no capabilities, as nobody', async () => {
  const outcome = asExited(await run({ command: sh('grep CapEff /proc/self/status; id -u; id -g') }));
  assert.match(outcome.stdout, /^CapEff:\s+0+\n65534\n65534\n$/);
});

test('the root filesystem is read-only and /tmp is writable but not executable', async () => {
  const outcome = asExited(
    await run({ command: sh('echo x > /x || echo root-refused; echo data > /tmp/f && cat /tmp/f; cp /bin/busybox /tmp/b; /tmp/b true || echo noexec') }),
  );
  assert.match(outcome.stderr, /Read-only file system/);
  assert.is(outcome.stdout, 'root-refused\ndata\nnoexec\n');
});

test('/tmp is a fresh sticky tmpfs writable by the function whatever the image: /tmp 1777, 0755 root, or none at all', async () => {
  const shell = 'stat -c "%a %U" /tmp; echo data > /tmp/f && cat /tmp/f';
  for (const image of [images.busybox, images.busyboxTmp0755]) {
    const outcome = asExited(await run({ image, command: sh(shell) }));
    assert.is(outcome.stdout, '1777 root\ndata\n', `${image}: ${outcome.stderr}`);
  }
  // The scratch image has no shell, no libc and no /tmp directory of its own.
  const scratch = asExited(await run({ image: images.probe, command: ['/probe', 'tmp'] }));
  assert.is(scratch.stdout, 'mode=1777 uid=0 write=ok\n', scratch.stderr);
  assert.is(scratch.exitCode, 0);
  const exec = asExited(await run({ image: images.probe, command: ['/probe', 'tmp-exec'] }));
  assert.is(exec.stdout, 'exec: Permission denied\n', 'noexec holds on the scratch image too');
});

test('open files are capped per process: a descriptor hog stops at the soft limit while another run goes on', async () => {
  const limited = runtimeWith({ nofile: { soft: 200, hard: 300 } });
  const [hog, bystander] = await Promise.all([
    run({ image: images.probe, command: ['/probe', 'fds'] }, limited),
    run({ command: sh('ulimit -n; ulimit -Hn; echo ok') }),
  ]);
  // 200 less stdin, stdout and stderr.
  assert.is(asExited(hog).stdout, 'opened=197 error=EMFILE\n');
  assert.is(asExited(bystander).stdout, '1024\n4096\nok\n', 'the default limits');
});

test('a process flood is stopped by the pids limit and the run still ends and reports', async () => {
  // Each successful fork prints its count; the shell stops at the first fork the limit refuses.
  const outcome = asExited(await run({ command: sh('i=0; while [ $i -lt 1000 ]; do sleep 5 & i=$((i+1)); echo $i; done') }));
  const spawned = Number(outcome.stdout.trim().split('\n').at(-1));
  assert.ok(spawned > 10 && spawned < 128, `spawned ${spawned}`);
  assert.match(outcome.stderr, /can't fork/);
  assert.is.not(outcome.exitCode, 0);
});

test('a memory hog is killed by the memory limit and reported as oomKilled', async () => {
  const outcome = asExited(await run({ command: sh('x=0123456789; while true; do x="$x$x"; done'), memoryMb: 16 }));
  assert.is(outcome.oomKilled, true);
  assert.is(outcome.exitCode, 137);
});

test('output past the cap is dropped, counted as truncated, and never buffered', async () => {
  const rssBefore = process.memoryUsage().rss;
  const outcome = asExited(await run({ command: sh('echo small >&2; yes | head -c 67108864') }));
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  assert.is(outcome.stdout.length, 1024 * 1024);
  assert.ok(/^(y\n)+$/.test(outcome.stdout));
  assert.is(outcome.stderr, 'small\n');
  assert.is(outcome.truncated, true);
  assert.is(outcome.exitCode, 0);
  // Buffering it all grows the process by about 260 MiB; a capped run by 20 to 50, as GC timing
  // goes: the bound sits between the two, far from both.
  assert.ok(rssGrowth < 128 * 1024 * 1024, `rss grew by ${Math.round(rssGrowth / 1024 / 1024)} MiB for 64 MiB of output`);
});

test('output is decoded as UTF-8 with invalid bytes replaced', async () => {
  const outcome = asExited(await run({ command: sh("printf 'caf\\303\\251 \\377!'") }));
  assert.is(outcome.stdout, 'café \uFFFD!');
});

test('a run past its timeout is killed, even when it ignores SIGTERM, and keeps the output so far', async () => {
  const startedAt = Date.now();
  const outcome = await run({ command: sh("echo before; trap '' TERM; sleep 30"), timeoutMs: 1000 });
  const elapsed = Date.now() - startedAt;
  assert.is(outcome.kind, 'timedOut', JSON.stringify(outcome));
  const timedOut = outcome as TimedOut;
  assert.is(timedOut.stdout, 'before\n');
  assert.ok(timedOut.durationMs >= 1000 && timedOut.durationMs < 2000, `durationMs ${timedOut.durationMs}`);
  assert.ok(elapsed < 6000, `took ${elapsed} ms`);
});

test('aborting the signal mid-run kills the container and fails the run with the signal reason', async () => {
  const abort = new AbortController();
  let abortedAt = 0;
  const outcome = await run({
    // Ignores SIGTERM and would outlive the test: only a kill ends it this soon.
    command: sh("trap '' TERM; sleep 30"),
    timeoutMs: 30_000,
    signal: abort.signal,
    onStarted: async () => {
      setTimeout(() => {
        abortedAt = Date.now();
        abort.abort('worker shut down before the execution finished');
      }, 300);
    },
  });
  const elapsed = Date.now() - abortedAt;
  assert.equal(outcome, { kind: 'failed', reason: 'worker shut down before the execution finished', started: true });
  assert.ok(abortedAt > 0, 'the run ended before the abort');
  assert.ok(elapsed < 4000, `took ${elapsed} ms after the abort`);
});

test('a run aborted before its container started never starts it', async () => {
  const abort = new AbortController();
  abort.abort('worker shut down before the execution finished');
  let started = false;
  const outcome = await run({
    command: sh('echo ran'),
    signal: abort.signal,
    onStarted: async () => {
      started = true;
    },
  });
  assert.equal(outcome, { kind: 'failed', reason: 'worker shut down before the execution finished', started: false });
  assert.is(started, false);
});

test('a missing image fails with a clear reason, and nothing starts', async () => {
  let started = false;
  const image = `${registry.address}/faasbox/missing:1`;
  const failed = asFailed(await run({ image, onStarted: async () => void (started = true) }));
  assert.is(failed.started, false);
  assert.is(started, false);
  assert.match(failed.reason, `image ${image} could not be pulled: manifest for ${image} not found`);
  assert.not.match(failed.reason, /\n|HTTP code|at .*\.js/);
});

test('an unreachable registry fails the run with a clear reason', async () => {
  const failed = asFailed(await run({ image: '127.0.0.1:1/faasbox/busybox:1' }));
  assert.is(failed.started, false);
  assert.match(failed.reason, /^image 127\.0\.0\.1:1\/faasbox\/busybox:1 could not be pulled: .*connection refused/);
});

test('an executable missing from the image fails the run as a container that could not start', async () => {
  const failed = asFailed(await run({ command: ['/no/such/program'] }));
  assert.is(failed.started, false);
  assert.is(failed.reason, 'container could not start: exec /no/such/program failed: No such file or directory');
});

test('on an image with no shell and no libc, a missing executable is reported the same way', async () => {
  const failed = asFailed(await run({ image: images.probe, command: ['/nope'] }));
  assert.equal(failed, { kind: 'failed', reason: 'container could not start: exec /nope failed: No such file or directory', started: false });
});

test('an agent binary that is not there fails the run as a container that could not be created', async () => {
  const without = runtimeWith({ agentPath: '/nonexistent/faasbox-agent' });
  const failed = asFailed(await run({ command: ['true'] }, without));
  assert.is(failed.started, false);
  assert.match(failed.reason, /^container could not be created: .*\/nonexistent\/faasbox-agent/);
});

test('an engine that cannot be reached fails the run, never throws', async () => {
  const nowhere = runtimeWith({}, new Docker({ socketPath: '/nonexistent/docker.sock' }));
  const failed = asFailed(await nowhere.run(specOf({})));
  assert.is(failed.started, false);
  assert.match(failed.reason, /^container engine unavailable: connect ENOENT/);
  assert.is(failed.hostFault, true, "the host's fault: another worker may run the job");
  await nowhere.ping().then(
    () => assert.unreachable('ping should fail'),
    (error: Error) => assert.match(error.message, /ENOENT/),
  );
});

test('the registry stops, and no container of this suite is left', async () => {
  await registry.stop();
  assert.equal(await containersLabelled('faasbox.execution'), []);
  for (const image of [images.busybox, images.echo]) await docker.getImage(image).remove().catch(() => {});
});

test.run();
