/**
 * Hostile functions against a real server (api and worker in one process, in-process bus): a
 * fork bomb, a descriptor hog, a process that ignores SIGTERM, a gigabyte of stdout, an escape
 * attempt to the api and the Docker socket, and a sleeper without a timeout of its own. Each must be contained
 * (limits hold, the host and the worker stay fine), reported (terminal state, exit code,
 * output marked truncated), and cleaned up (no container and no process of it left), while
 * another user's `echo ok` keeps being served.
 *
 * docker-runtime.int.test.ts checks the same limits on the runtime alone; this suite checks
 * them end to end, with the host's and the worker's side of each attack measured.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type FunctionInput, createFunction, signUp } from '../support/api.ts';
import { call } from '../support/http-client.ts';
import { type Registry, startRegistry } from '../support/registry.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { type TestImages, ensureTestImages } from '../support/test-images.ts';
import { reportFigure } from './support/report.ts';
import { eventually } from '../support/eventually.ts';
import { executionContainers } from '../support/execution-containers.ts';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const workerId = `hostile-${process.pid}`;
/** Far below the 1 MiB default, so that "exactly the limit was kept" proves the setting is used. */
const OUTPUT_LIMIT_BYTES = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 3000;
const GIGABYTE_MIB = 1000;
/** The worker's default pids limit (worker/docker/runtime.ts). */
const PIDS_LIMIT = 128;
/** The worker's default open-files limits (FAASBOX_NOFILE_SOFT, FAASBOX_NOFILE_HARD). */
const NOFILE = { soft: 1024, hard: 4096 };
/** How long the worker waits for a killed container's exit, then again for its last output. */
const STOP_GRACE_MS = 2000;
/** Generous: the machine is shared with other Docker-heavy suites. */
const NORMAL_DEADLINE_MS = 30_000;
const WORKER_RSS_BOUND_MB = 500;
const PASSWORD = 'correct horse battery';

let registry: Registry | undefined;
let images: TestImages;
let server: ServerProcess | undefined;
/** The user whose `echo ok` runs alongside every hostile function. */
let bystander: { token: string; echo: string };

// A failed assertion can skip the last test: the server must not outlive the suite.
process.once('exit', () => server?.child.kill('SIGKILL'));

type Status = 'queued' | 'running' | 'succeeded' | 'failed' | 'timedOut';
type ExecutionView = {
  executionId: string;
  status: Status;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number | null;
  reason: string | null;
};
const TERMINAL: readonly Status[] = ['succeeded', 'failed', 'timedOut'];

const url = () => {
  if (!server) throw new Error('the server did not start');
  return server.url;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const newUser = async (tag: string): Promise<string> => (await signUp(url(), { tag, password: PASSWORD })).token;

const newFunction = async (token: string, spec: Partial<FunctionInput>): Promise<{ id: string; timeoutMs: number }> =>
  createFunction(url(), token, { name: 'hostile', image: images.busybox, ...spec });

const viewOf = async (token: string, executionId: string): Promise<ExecutionView> => {
  const reply = await call(url(), 'GET', `/v1/executions/${executionId}`, { token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body as ExecutionView;
};

// ---- what the host, the engine and the worker look like

const containersOf = async (executionId: string) =>
  (await executionContainers(docker, (id) => id === workerId)).filter((container) => container.executionId === executionId);

/** Host processes (as the host sees them) that live in the container's cgroup. */
function processesOfContainer(containerId: string): number {
  let count = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(containerId)) count++;
    } catch {
      // Exited between the listing and the read.
    }
  }
  return count;
}

type PidsCgroup = { max: string; current: number; peak: number | null; refusedForks: number };

/** The container's pids cgroup as the kernel keeps it (v1 or v2), found from its first process. */
function pidsCgroupDirOf(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((line) => /^\d+:pids:/.test(line));
  if (v1) return `/sys/fs/cgroup/pids${v1.slice(v1.indexOf(':pids:') + ':pids:'.length)}`;
  return `/sys/fs/cgroup${(lines.find((line) => line.startsWith('0::')) ?? '0::/').slice(3)}`;
}

/** Null once the container is gone; `peak` is null on kernels without pids.peak. */
function readPidsCgroup(dir: string): PidsCgroup | null {
  const read = (file: string) => readFileSync(`${dir}/${file}`, 'utf8').trim();
  try {
    let peak: number | null = null;
    try {
      peak = Number(read('pids.peak'));
    } catch {}
    // "max N": how many forks the limit refused.
    const refusedForks = Number(/^max (\d+)$/m.exec(read('pids.events'))?.[1] ?? Number.NaN);
    return { max: read('pids.max'), current: Number(read('pids.current')), peak, refusedForks };
  } catch {
    return null;
  }
}

/** Counted by `ps`, which also shows that the host can still fork. */
async function hostProcessCount(): Promise<number> {
  const { stdout } = await promisify(execFile)('ps', ['-e', '-o', 'pid=']);
  return stdout.split('\n').filter((line) => line.trim()).length;
}

/** Resident memory of the server process (api and worker), in MiB; `VmHWM` is its peak so far. */
function serverMemoryMb(field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${server?.child.pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return Math.round(kb / 1024);
}

type Sampler = { stop(): Promise<void> };

/** Calls `sample` back to back, `everyMs` apart, until stopped; a failing sample fails `stop`. */
function sampleEvery(everyMs: number, sample: () => void | Promise<void>): Sampler {
  let running = true;
  const loop = (async () => {
    while (running) {
      await sample();
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

type EngineEvent = { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } };

/** The engine's events for one execution's container (start, kill, die, destroy), from `since`. */
async function watchEngineEvents(executionId: string, sinceSeconds: number) {
  const events: EngineEvent[] = [];
  const stream = (await docker.getEvents({
    since: sinceSeconds,
    filters: { type: ['container'], label: [`faasbox.execution=${executionId}`] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) events.push(JSON.parse(line) as EngineEvent);
  });
  stream.on('error', () => {});
  const find = (action: string) => events.find((event) => event.Action === action);
  return { events, find, close: () => stream.destroy() };
}

// ---- the bystander's traffic

type NormalTraffic = { runs: number; whileHostileRan: number; worstMs: number; failures: string[] };

/**
 * Runs the bystander's `echo ok` one after another until stopped, each within a generous deadline.
 * Started once the hostile container runs, so the first run at least overlaps it.
 */
function runBystander(hostileEnded: () => boolean) {
  const traffic: NormalTraffic = { runs: 0, whileHostileRan: 0, worstMs: 0, failures: [] };
  let stopped = false;
  const once = async () => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${NORMAL_DEADLINE_MS} ms`)), NORMAL_DEADLINE_MS);
    });
    try {
      const reply = await Promise.race([call(url(), 'POST', `/v1/functions/${bystander.echo}/executions`, { token: bystander.token }), deadline]);
      if (reply.status !== 200 || reply.body.status !== 'succeeded' || reply.body.stdout !== 'ok\n') {
        traffic.failures.push(`${reply.status} ${JSON.stringify(reply.body)}`);
      }
    } catch (error) {
      traffic.failures.push(String(error));
    } finally {
      clearTimeout(timer);
    }
    traffic.runs++;
    if (!hostileEnded()) traffic.whileHostileRan++;
    traffic.worstMs = Math.max(traffic.worstMs, Date.now() - started);
  };
  const loop = (async () => {
    do await once();
    while (!stopped && traffic.failures.length === 0);
  })();
  return {
    traffic,
    async stop() {
      stopped = true;
      await loop;
      return traffic;
    },
  };
}

// ---- one hostile run, end to end

type HostileRun = {
  view: ExecutionView;
  /** From the request to the first poll that saw the terminal state. */
  terminalMs: number;
  /** The container as the engine described it while the function ran. */
  container: Docker.ContainerInspectInfo;
  /** Milliseconds from the container's start to its death, and its exit code, by the engine's events. */
  startToDieMs: number;
  dieExitCode: number;
  normal: NormalTraffic;
  rssPeakMb: number;
};

/**
 * Starts the function (wait=false, so its id is known at once), runs the bystander and
 * `whileRunning` while it runs, waits for its terminal state, and checks that the engine
 * destroyed its container and no process of it is left on the host.
 */
async function runHostile(
  token: string,
  functionId: string,
  options: { terminalWithinMs: number; whileRunning?: (container: Docker.ContainerInspectInfo) => Sampler },
): Promise<HostileRun> {
  let rssPeakMb = serverMemoryMb('VmRSS');
  const rss = sampleEvery(100, () => {
    rssPeakMb = Math.max(rssPeakMb, serverMemoryMb('VmRSS'));
  });
  const sinceSeconds = Math.floor(Date.now() / 1000) - 1;
  const requestedAt = Date.now();
  const queued = await call(url(), 'POST', `/v1/functions/${functionId}/executions?wait=false`, { token });
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  const executionId = queued.body.executionId as string;
  const engine = await watchEngineEvents(executionId, sinceSeconds);
  let ended = false;
  let extra: Sampler | undefined;
  let bystanderTraffic: ReturnType<typeof runBystander> | undefined;
  try {
    const container = await eventually('the hostile container runs', 20_000, async () => {
      const [found] = await containersOf(executionId);
      return found?.State === 'running' ? docker.getContainer(found.Id).inspect() : undefined;
    });
    extra = options.whileRunning?.(container);
    bystanderTraffic = runBystander(() => ended);
    const view = await eventually(
      'the hostile execution reaches a terminal state',
      options.terminalWithinMs,
      async () => {
        const current = await viewOf(token, executionId);
        return TERMINAL.includes(current.status) ? current : undefined;
      },
      100,
    );
    ended = true;
    const terminalMs = Date.now() - requestedAt;
    await extra?.stop();
    const normal = await bystanderTraffic.stop();

    // The answer comes first; the container is removed right after it, in the background.
    await eventually('the container is removed', 20_000, async () => ((await containersOf(executionId)).length === 0 ? true : undefined));
    assert.is(processesOfContainer(container.Id), 0, 'no process of the container is left on the host');
    await eventually('the engine reports the container destroyed', 10_000, async () => engine.find('destroy'));
    const started = engine.find('start');
    const died = engine.find('die');
    assert.ok(started && died, JSON.stringify(engine.events.map((event) => event.Action)));
    assert.equal(normal.failures, [], 'the bystander is served while the hostile function runs');
    assert.ok(normal.runs >= 1);
    return {
      view,
      terminalMs,
      container,
      startToDieMs: Math.round((died.timeNano - started.timeNano) / 1e6),
      dieExitCode: Number(died.Actor.Attributes.exitCode),
      normal,
      rssPeakMb: Math.max(rssPeakMb, serverMemoryMb('VmRSS')),
    };
  } finally {
    // Also when the run failed: nothing of this case may go on into the next one.
    ended = true;
    engine.close();
    await rss.stop();
    await extra?.stop().catch(() => {});
    await bystanderTraffic?.stop();
  }
}

/** Every hostile container runs with the lock-down, and without a log file on the engine's disk. */
function assertLockedDown(container: Docker.ContainerInspectInfo) {
  const host = container.HostConfig;
  assert.is(host.NetworkMode, 'none');
  assert.is(host.ReadonlyRootfs, true);
  assert.is(host.PidsLimit, PIDS_LIMIT);
  assert.equal(host.Ulimits, [{ Name: 'nofile', Soft: NOFILE.soft, Hard: NOFILE.hard }]);
  assert.is(container.Config.User, '65534:65534');
  assert.is(host.LogConfig?.Type, 'none');
  assert.is(container.LogPath, '');
}

function report(name: string, run: HostileRun, extra: Record<string, unknown> = {}) {
  reportFigure(`hostile-functions/${name}`, {
    outcome: run.view.status,
    exitCode: run.view.exitCode,
    reason: run.view.reason,
    truncated: run.view.truncated,
    terminalMs: run.terminalMs,
    containerStartToDieMs: run.startToDieMs,
    containerExitCode: run.dieExitCode,
    normalRuns: run.normal.runs,
    normalRunsWhileHostileRan: run.normal.whileHostileRan,
    normalWorstMs: run.normal.worstMs,
    workerRssPeakMb: run.rssPeakMb,
    ...extra,
  });
}

// ---- the suite

const test = suite('hostile functions [api and worker in one process]');

// Started in a test, not a hook: uvu would swallow a failed start.
test('the platform starts with a loopback registry; a bystander is served', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
  server = await startServer({
    role: 'all',
    env: {
      FAASBOX_WORKER_ID: workerId,
      FAASBOX_DEFAULT_TIMEOUT_MS: String(DEFAULT_TIMEOUT_MS),
      FAASBOX_OUTPUT_LIMIT_BYTES: String(OUTPUT_LIMIT_BYTES),
      // Every address of the host, so that the escape test tries a live api, not a closed port.
      FAASBOX_HOST: '0.0.0.0',
    },
  });
  const token = await newUser('bystander');
  const echo = await newFunction(token, { name: 'echo', command: ['echo', 'ok'], timeoutMs: 20_000 });
  bystander = { token, echo: echo.id };
  const reply = await call(url(), 'POST', `/v1/functions/${echo.id}/executions`, { token });
  assert.is(reply.body.stdout, 'ok\n', JSON.stringify(reply.body));
});

test('a fork bomb is held by the pids limit, the host keeps its processes, and it ends timed out', async () => {
  const token = await newUser('fork-bomb');
  // Busybox ash refuses `:` as a function name. The first shell forks once, then becomes a sleep:
  // a shell whose fork is refused exits, and its exit would end the container (the bomb with it).
  const fn = await newFunction(token, { command: ['sh', '-c', 'bomb() { bomb | bomb & }; (bomb) & exec sleep 999999'], timeoutMs: 6000 });
  const hostBefore = await hostProcessCount();
  let hostPeak = hostBefore;
  let seenInContainerPeak = 0;
  let pidsCurrentPeak = 0;
  let cgroup: PidsCgroup | null = null;
  const run = await runHostile(token, fn.id, {
    terminalWithinMs: fn.timeoutMs + 2 * STOP_GRACE_MS + 20_000,
    whileRunning: (container) => {
      const dir = pidsCgroupDirOf(container.State.Pid);
      return sampleEvery(200, async () => {
        // The last reading before the container goes is the one kept: its counters only grow.
        const reading = readPidsCgroup(dir);
        if (reading) cgroup = reading;
        pidsCurrentPeak = Math.max(pidsCurrentPeak, reading?.current ?? 0);
        seenInContainerPeak = Math.max(seenInContainerPeak, processesOfContainer(container.Id));
        hostPeak = Math.max(hostPeak, await hostProcessCount());
      });
    },
  });
  const pids = cgroup as PidsCgroup | null;
  const peak = pids?.peak ?? pidsCurrentPeak;
  report('fork-bomb', run, {
    hostProcessesBefore: hostBefore,
    hostProcessesPeak: hostPeak,
    containerPidsPeak: peak,
    containerProcessesSeenFromHostPeak: seenInContainerPeak,
    forksRefusedByLimit: pids?.refusedForks ?? null,
  });

  assertLockedDown(run.container);
  assert.is(run.view.status, 'timedOut', JSON.stringify({ ...run.view, stderr: run.view.stderr.slice(0, 300) }));
  assert.is(run.view.exitCode, null);
  assert.is(run.dieExitCode, 137);
  // The bomb reached the limit, which refused the rest, in the kernel's count and in its stderr.
  assert.ok(pids, 'the container has a pids cgroup');
  assert.is(pids?.max, String(PIDS_LIMIT));
  assert.ok((pids?.refusedForks ?? 0) > 0, JSON.stringify(pids));
  assert.match(run.view.stderr, /can't fork/);
  assert.ok(peak <= PIDS_LIMIT && seenInContainerPeak <= PIDS_LIMIT, `peak ${peak}, ${seenInContainerPeak} seen from the host`);
  // An unbounded bomb reaches thousands; other suites' processes come and go meanwhile.
  assert.ok(hostPeak - hostBefore < PIDS_LIMIT + 1000, `host processes went from ${hostBefore} to ${hostPeak}`);
  assert.ok(run.rssPeakMb < WORKER_RSS_BOUND_MB, `worker RSS reached ${run.rssPeakMb} MiB`);
});

test('a descriptor hog in 100 processes stops at the open-files limit in each; the host file table holds, the bystander is served', async () => {
  const token = await newUser('fd-hog');
  const processes = 100;
  // Each process opens until refused and holds what it got; without a limit, 100 processes at
  // the engine's default (tens of thousands each) reach the host's whole file table.
  const fn = await newFunction(token, { image: images.probe, command: ['/probe', 'fds-tree', String(processes), '3'], timeoutMs: 20_000 });
  const hostFilesOpen = () => Number(readFileSync('/proc/sys/fs/file-nr', 'utf8').split(/\s+/)[0]);
  const hostBefore = hostFilesOpen();
  let hostPeak = hostBefore;
  const run = await runHostile(token, fn.id, {
    terminalWithinMs: 60_000,
    whileRunning: () =>
      sampleEvery(100, () => {
        hostPeak = Math.max(hostPeak, hostFilesOpen());
      }),
  });
  report('descriptor-hog', run, { processes, hostFilesOpenBefore: hostBefore, hostFilesOpenPeak: hostPeak });

  assertLockedDown(run.container);
  assert.is(run.view.status, 'succeeded', JSON.stringify(run.view));
  const counts = /^processes=(\d+) most=(\d+) total=(\d+)\n$/.exec(run.view.stdout);
  assert.ok(counts, run.view.stdout);
  const [, reported, most, total] = counts.map(Number);
  assert.is(reported, processes);
  // Each process already holds stdin, stdout, stderr and the pipe to its parent.
  assert.ok((most ?? 0) <= NOFILE.soft - 4 && (most ?? 0) > NOFILE.soft - 16, `most ${most}`);
  assert.ok((total ?? 0) <= processes * NOFILE.soft, `total ${total}`);
  // Other suites open and close files meanwhile; the hog alone adds about 100 000.
  assert.ok(hostPeak - hostBefore < processes * NOFILE.soft + 100_000, `host files went from ${hostBefore} to ${hostPeak}`);
});

test('a process tree that ignores SIGTERM is killed at its timeout, reported timed out, with its output so far', async () => {
  const token = await newUser('sigterm');
  // A second tree in its own session, also deaf to TERM, must die with the container too.
  const script = [
    "trap '' TERM INT HUP",
    `setsid sh -c "trap '' TERM INT HUP; while :; do sleep 1; done" &`,
    'echo armed',
    'while :; do sleep 1; done',
  ].join('\n');
  const fn = await newFunction(token, { command: ['sh', '-c', script], timeoutMs: 2000 });
  const run = await runHostile(token, fn.id, { terminalWithinMs: fn.timeoutMs + 2 * STOP_GRACE_MS + 20_000 });
  report('sigterm-ignored', run);

  assertLockedDown(run.container);
  assert.is(run.view.status, 'timedOut', JSON.stringify(run.view));
  assert.is(run.view.exitCode, null);
  assert.is(run.view.stdout, 'armed\n');
  assert.ok((run.view.durationMs ?? 0) >= fn.timeoutMs, `durationMs ${run.view.durationMs}`);
  // SIGKILLed (128 + 9) within the timeout plus the worker's grace for the exit, by the engine's clock.
  assert.is(run.dieExitCode, 137);
  assert.ok(run.startToDieMs >= fn.timeoutMs && run.startToDieMs < fn.timeoutMs + STOP_GRACE_MS, `died ${run.startToDieMs} ms after its start`);
});

test('a gigabyte of stdout is cut at the output limit and marked truncated; the worker and the engine store none of it', async () => {
  const token = await newUser('gigabyte');
  // In 1 MiB writes: the engine's cost goes by the write, and `yes | head` (small writes) gets
  // under 20 MB/s out on this kind of machine, so it would meet its timeout, not its end. Even
  // so the engine gets 40 MB/s out here, 20 when other suites load it: hence the long timeout.
  const fn = await newFunction(token, { command: ['sh', '-c', `dd if=/dev/zero bs=1M count=${GIGABYTE_MIB} 2>/dev/null; echo done >&2`], timeoutMs: 90_000 });
  const run = await runHostile(token, fn.id, { terminalWithinMs: fn.timeoutMs + 2 * STOP_GRACE_MS + 20_000 });
  report('gigabyte-stdout', run, {
    outputLimitBytes: OUTPUT_LIMIT_BYTES,
    throughputMiBps: Math.round(GIGABYTE_MIB / ((run.view.durationMs ?? Number.NaN) / 1000)),
    workerRssLifetimePeakMb: serverMemoryMb('VmHWM'),
  });

  // LogConfig none and no LogPath: the engine keeps no copy of the gigabyte on its disk.
  assertLockedDown(run.container);
  // It ran to its end (stderr written after the gigabyte), not into its timeout.
  assert.is(run.view.status, 'succeeded', JSON.stringify({ ...run.view, stdout: `${run.view.stdout.length} characters` }));
  assert.is(run.view.exitCode, 0);
  assert.is(run.view.stderr, 'done\n');
  assert.is(run.view.truncated, true);
  assert.is(run.view.stdout.length, OUTPUT_LIMIT_BYTES);
  assert.ok(/^\0+$/.test(run.view.stdout), 'the first bytes are kept, unaltered');
  assert.ok(run.rssPeakMb < WORKER_RSS_BOUND_MB, `worker RSS reached ${run.rssPeakMb} MiB`);
});

test('reaching the api on any host address or the Docker socket fails, as the function’s own failure with its stderr', async () => {
  const port = new URL(url()).port;
  const hostAddresses = Object.values(networkInterfaces())
    .flat()
    .filter((address) => address !== undefined && address.family === 'IPv4' && !address.internal)
    .map((address) => address?.address);
  const targets = [
    `http://127.0.0.1:${port}/healthz`,
    ...hostAddresses.map((address) => `http://${address}:${port}/healthz`),
    `http://${registry?.address}/v2/`,
  ];
  // From the host every target answers: the function is refused by its sandbox, not by an empty port.
  for (const target of targets) assert.ok((await fetch(target)).ok, `${target} answers the host`);

  const token = await newUser('escape');
  // Tried for a few rounds, as a patient attacker would; anything reached is printed on stdout.
  const script = [
    'for round in 1 2 3; do',
    // busybox 1.35's `wget -T` crashes: `timeout` bounds a connect that would hang instead.
    '  for target in $TARGETS; do timeout 3 wget -q -O /dev/null "$target" && echo "REACHED $target"; done',
    '  for socket in /var/run/docker.sock /run/docker.sock; do',
    '    ls -l "$socket" && echo "FOUND $socket"',
    '    nc -f "$socket" </dev/null && echo "OPENED $socket"',
    '  done',
    '  sleep 1',
    'done',
    "find / -path /proc -prune -o -path /sys -prune -o -type s -print | sed 's/^/SOCKET /'",
    'exit 7',
  ].join('\n');
  const fn = await newFunction(token, { command: ['sh', '-c', script], env: { TARGETS: targets.join(' ') }, timeoutMs: 30_000 });
  const run = await runHostile(token, fn.id, { terminalWithinMs: fn.timeoutMs + 2 * STOP_GRACE_MS + 20_000 });
  report('escape-attempt', run, { targets: targets.length });

  assertLockedDown(run.container);
  assert.is(run.view.status, 'failed', JSON.stringify(run.view));
  assert.is(run.view.exitCode, 7);
  assert.is(run.view.reason, 'exited with code 7');
  assert.is(run.view.stdout, '', 'nothing was reached');
  for (const target of targets) {
    const host = new URL(target).hostname;
    assert.match(run.view.stderr, `can't connect to remote host (${host})`);
  }
  assert.match(run.view.stderr, '/var/run/docker.sock: No such file or directory');
  assert.match(run.view.stderr, "can't open '/var/run/docker.sock'");
});

test('a sleeper without a timeout of its own ends at the default timeout, reported timed out', async () => {
  const token = await newUser('sleeper');
  const fn = await newFunction(token, { command: ['sleep', '999999'] });
  assert.is(fn.timeoutMs, DEFAULT_TIMEOUT_MS);
  const run = await runHostile(token, fn.id, { terminalWithinMs: DEFAULT_TIMEOUT_MS + 2 * STOP_GRACE_MS + 20_000 });
  report('sleeper-default-timeout', run);

  assertLockedDown(run.container);
  assert.is(run.view.status, 'timedOut', JSON.stringify(run.view));
  assert.is(run.view.exitCode, null);
  assert.is(run.dieExitCode, 137);
  // Killed by the default timeout: not before it, and not at the platform's 30 s one either.
  assert.ok((run.view.durationMs ?? 0) >= DEFAULT_TIMEOUT_MS, `durationMs ${run.view.durationMs}`);
  assert.ok(run.startToDieMs >= DEFAULT_TIMEOUT_MS && run.startToDieMs < DEFAULT_TIMEOUT_MS + STOP_GRACE_MS, `died ${run.startToDieMs} ms after its start`);
});

test('the platform stops cleanly and none of its containers is left', async () => {
  // Pre-started containers wait in the pool until the worker stops: then none may be left.
  assert.is(await server?.stop(), 0);
  server = undefined;
  const left = await docker.listContainers({ all: true, filters: { label: [`faasbox.worker=${workerId}`] } });
  assert.equal(left, []);
  await registry?.stop();
  registry = undefined;
});

test.after(async () => {
  // Only when a test failed before the last one: whatever this worker left is removed.
  try {
    await server?.kill();
    const left = await docker.listContainers({ all: true, filters: { label: [`faasbox.worker=${workerId}`] } });
    await Promise.all(left.map((container) => docker.getContainer(container.Id).remove({ force: true })));
    await registry?.stop();
  } catch (error) {
    console.error('hostile functions: cleanup failed', error);
  }
});

test.run();
