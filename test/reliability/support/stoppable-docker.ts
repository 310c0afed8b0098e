/**
 * A test-owned second Docker engine that can be stopped and started again on the same socket and
 * data root, so a worker pointed at it sees an outage and then the same engine back. Started as
 * test/support/small-docker.ts starts its engine (own data root, exec root, pid file and socket;
 * dockerd 20.10 then runs its own managed containerd; `--bridge=none`), but on a plain temporary
 * directory: nothing here fills a disk, and small-docker.ts has no way to restart its daemon.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';

export type StoppableDocker = {
  docker: Docker;
  /** `unix:///…/docker.sock`, for DOCKER_HOST. */
  dockerHost: string;
  /**
   * SIGTERM: an orderly stop (`systemctl stop docker`): the engine stops its containers, then
   * itself. SIGKILL: a crash: containers live on in their shims until the next start kills them.
   * Resolves once the daemon has exited.
   */
  stopEngine(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts the daemon again on the same socket and data root; resolves once it answers. */
  startEngine(): Promise<void>;
  /** Removes every container, stops the engine for good and deletes its directory. */
  destroy(): Promise<void>;
};

const START_TIMEOUT_MS = 30_000;
const START_ATTEMPTS = 3;
const STOP_TIMEOUT_MS = 15_000;
/** Seconds dockerd gives running containers on an orderly stop before it kills them. */
const SHUTDOWN_TIMEOUT_S = 2;

const live = new Set<{ dir: string; daemon(): ChildProcess | null }>();

// A test that throws before destroy() must not leave a daemon behind; synchronous, since an
// 'exit' handler cannot wait.
process.once('exit', () => {
  for (const instance of live) {
    const pid = instance.daemon()?.pid;
    if (pid !== undefined) {
      const script = `kill -TERM ${pid} 2>/dev/null; for i in $(seq 100); do [ -e /proc/${pid} ] && ! grep -q '^State:.*Z' /proc/${pid}/status 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL ${pid} 2>/dev/null; true`;
      try {
        execFileSync('sh', ['-c', script], { stdio: 'ignore', timeout: 15_000 });
      } catch {
        // Best effort: the process is exiting anyway.
      }
    }
    unmountAndDelete(instance.dir);
  }
});

export async function startStoppableDocker(): Promise<StoppableDocker> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-stoppable-docker-'));
  const socketPath = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  mkdirSync(join(dir, 'data'));
  const docker = new Docker({ socketPath });
  let daemon: ChildProcess | null = null;
  const instance = { dir, daemon: () => (daemon && isRunning(daemon) ? daemon : null) };
  live.add(instance);

  /**
   * After a crash dockerd 20.10 sometimes gives up on its managed containerd ("timeout waiting
   * for containerd to start") while the old one is still winding down its shims: that is the
   * engine's start, not what a test checks, so it is tried again a few times.
   */
  const startEngine = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startEngineOnce();
      } catch (error) {
        if (attempt >= START_ATTEMPTS || !/timeout waiting for containerd/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  };

  const startEngineOnce = async () => {
    if (instance.daemon()) throw new Error('the engine is already running');
    const logFd = openSync(logFile, 'a');
    const started = spawn(
      'dockerd',
      [
        '--data-root', join(dir, 'data'),
        '--exec-root', join(dir, 'exec'),
        '--pidfile', join(dir, 'docker.pid'),
        '--host', `unix://${socketPath}`,
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
        '--ip6tables=false',
        '--shutdown-timeout', String(SHUTDOWN_TIMEOUT_S),
        '--log-level', 'warn',
      ],
      // A file, not a pipe: a pipe nobody drains would block the daemon when full.
      { stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    started.unref();
    daemon = started;
    let exited: string | null = null;
    started.once('exit', (code, signal) => (exited = `dockerd exited (${signal ?? code})`));
    started.once('error', (error) => (exited = `dockerd could not start: ${error.message}`));
    const giveUpAt = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (await docker.ping().then(() => true, () => false)) return;
      const failure = exited ?? (Date.now() > giveUpAt ? `dockerd did not answer within ${START_TIMEOUT_MS} ms` : null);
      if (failure) throw new Error(`${failure}:\n${tail(logFile)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const stopEngine = async (signal: 'SIGTERM' | 'SIGKILL') => {
    const running = instance.daemon();
    if (!running) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    // Unreferenced so that it never keeps the test process alive; while we wait for its exit it must.
    running.ref();
    running.kill(signal);
    if (!(await settledWithin(exited, STOP_TIMEOUT_MS))) {
      running.kill('SIGKILL');
      await exited;
    }
  };

  const destroy = async () => {
    try {
      // A crashed engine's containers are killed by its next start; then all go through the API,
      // so their mounts and shims go with them.
      if (!instance.daemon()) await startEngine();
      const containers = await docker.listContainers({ all: true });
      await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => {})));
    } finally {
      // SIGTERM: dockerd then stops its managed containerd; SIGKILL would orphan it.
      await stopEngine('SIGTERM');
      unmountAndDelete(dir);
      live.delete(instance);
    }
  };

  try {
    await startEngine();
  } catch (error) {
    await stopEngine('SIGKILL');
    unmountAndDelete(dir);
    live.delete(instance);
    throw error;
  }
  return { docker, dockerHost: `unix://${socketPath}`, stopEngine, startEngine, destroy };
}

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function unmountAndDelete(dir: string): void {
  killLeftovers(dir);
  // Whatever a daemon that died hard left mounted under the directory: deepest first.
  for (const path of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', ['-l', path], { stdio: 'ignore' });
    } catch {
      // Already gone with its parent.
    }
  }
  if (mountsUnder(dir).length === 0) rmSync(dir, { recursive: true, force: true });
}

/**
 * A shim the stopped engine no longer knows of: an engine stopped while it was starting a
 * container leaves that container's shim behind, and removing the container does not end it.
 * Anything still running with the directory on its command line is such a leftover.
 */
function killLeftovers(dir: string): void {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    if (!commandLine.includes(`${dir}/`)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // ended meanwhile
    }
  }
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((path) => path === dir || path.startsWith(`${dir}/`));
}

/** Waits for `promise`, but no longer than `ms`; true if it settled. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no dockerd log)';
  }
}
