/**
 * A second Docker engine whose data root is a small file system of its own, so a test can fill
 * it: a file formatted as ext4 and loop-mounted on a temporary directory, and a `dockerd` with
 * its own data root, exec root, pid file and socket there. With an exec root of its own, dockerd
 * 20.10 starts its own managed containerd under it, so nothing is shared with the machine's
 * engine. Needs root, loop devices, mkfs.ext4 and dockerd; no network (`--bridge=none`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';

export type SmallDocker = {
  docker: Docker;
  socketPath: string;
  /** The engine's data root, on the small file system. */
  dataRoot: string;
  /** Where the small file system is mounted; `dataRoot` is a directory in it, so a test may put other files beside it. */
  mountPoint: string;
  /** Removes its containers, stops the engine, unmounts and deletes everything. */
  stop(): Promise<void>;
};

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const CONTAINER_REMOVAL_TIMEOUT_MS = 10_000;
/** Seconds dockerd gives running containers on shutdown before it kills them. */
const SHUTDOWN_TIMEOUT_S = 2;

type Instance = { dir: string; mountPoint: string; daemon: ChildProcess | null; stopping?: Promise<void> };
const live = new Set<Instance>();

// A failed assertion or a thrown hook may skip stop(); a mounted loop device and a daemon must
// not outlive the test process. Synchronous, since an 'exit' handler cannot wait.
process.once('exit', () => {
  for (const instance of live) cleanUpNow(instance);
});

export async function startSmallDocker(sizeMb = 300): Promise<SmallDocker> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-small-docker-'));
  const instance: Instance = { dir, mountPoint: join(dir, 'disk'), daemon: null };
  live.add(instance);
  try {
    return await start(instance, sizeMb);
  } catch (error) {
    await stopInstance(instance);
    throw error;
  }
}

async function start(instance: Instance, sizeMb: number): Promise<SmallDocker> {
  const { dir, mountPoint } = instance;
  const image = join(dir, 'disk.img');
  execFileSync('truncate', ['-s', `${sizeMb}M`, image]);
  // -m 0: no blocks reserved for root, so "full" means the same to dockerd (root) and to df.
  execFileSync('mkfs.ext4', ['-q', '-m', '0', '-b', '4096', image]);
  mkdirSync(mountPoint);
  execFileSync('mount', ['-o', 'loop', image, mountPoint]);

  const dataRoot = join(mountPoint, 'docker');
  const execRoot = join(dir, 'exec');
  const socketPath = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  mkdirSync(dataRoot);
  const logFd = openSync(logFile, 'a');
  const daemon = spawn(
    'dockerd',
    [
      '--data-root', dataRoot,
      '--exec-root', execRoot,
      '--pidfile', join(dir, 'docker.pid'),
      '--host', `unix://${socketPath}`,
      '--bridge=none',
      '--iptables=false',
      '--ip-masq=false',
      '--ip6tables=false',
      '--shutdown-timeout', String(SHUTDOWN_TIMEOUT_S),
      '--log-level', 'warn',
    ],
    // Output to a file, not a pipe: a pipe nobody drains would block the daemon when full.
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  // Never what keeps the test process alive: if a stop() hangs or is skipped, the process still
  // ends, and its 'exit' handler stops the daemon.
  daemon.unref();
  instance.daemon = daemon;
  let exited: string | null = null;
  daemon.once('exit', (code, signal) => (exited = `dockerd exited (${signal ?? code})`));
  daemon.once('error', (error) => (exited = `dockerd could not start: ${error.message}`));

  const docker = new Docker({ socketPath });
  const giveUpAt = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (await docker.ping().then(() => true, () => false)) break;
    const failure = exited ?? (Date.now() > giveUpAt ? `dockerd did not answer within ${START_TIMEOUT_MS} ms` : null);
    if (failure) throw new Error(`${failure}:\n${tail(logFile)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { docker, socketPath, dataRoot, mountPoint, stop: () => stopInstance(instance, docker) };
}

function stopInstance(instance: Instance, docker?: Docker): Promise<void> {
  // Still listed until done, so the 'exit' handler finishes a stop that hung.
  instance.stopping ??= stopNow(instance, docker).finally(() => live.delete(instance));
  return instance.stopping;
}

async function stopNow(instance: Instance, docker: Docker | undefined): Promise<void> {
  if (docker) {
    // Removed through the engine, so their mounts and shims go with them; bounded, since an
    // engine whose disk filled up may never answer, and stopping it must go on regardless.
    const removeAll = async () => {
      const containers = await docker.listContainers({ all: true });
      await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => {})));
    };
    await settledWithin(removeAll(), CONTAINER_REMOVAL_TIMEOUT_MS);
  }
  const { daemon } = instance;
  if (daemon?.pid !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
    const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
    // SIGTERM: dockerd then stops its managed containerd; SIGKILL would orphan it.
    daemon.kill('SIGTERM');
    if (!(await settledWithin(exited, STOP_TIMEOUT_MS))) {
      daemon.kill('SIGKILL');
      await settledWithin(exited, STOP_TIMEOUT_MS);
    }
  }
  unmountAndDelete(instance);
}

function cleanUpNow(instance: Instance): void {
  const pid = instance.daemon?.pid;
  if (pid !== undefined && instance.daemon?.exitCode === null && instance.daemon.signalCode === null) {
    // Bounded wait for a graceful stop (containers, then its containerd), then the hard way.
    // Exited shows as a zombie: this process, blocked here, cannot reap its child.
    const running = `[ -e /proc/${pid} ] && ! grep -q '^State:.*Z' /proc/${pid}/status 2>/dev/null`;
    const script = `kill -TERM ${pid} 2>/dev/null; for i in $(seq 100); do ${running} || exit 0; sleep 0.1; done; kill -KILL ${pid} 2>/dev/null; true`;
    try {
      execFileSync('sh', ['-c', script], { stdio: 'ignore', timeout: 15_000 });
    } catch {
      // Best effort: the process is exiting anyway.
    }
  }
  unmountAndDelete(instance, { lazy: true });
}

function unmountAndDelete({ dir }: Instance, { lazy = false } = {}): void {
  // The small disk, and whatever a daemon that died hard left mounted under our directory (its
  // network namespaces, container root file systems): deepest first.
  for (const path of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', lazy ? ['-l', path] : [path], { stdio: 'ignore' });
    } catch {
      // Still busy: detach it anyway; a loop device is freed when its last user goes.
      try {
        execFileSync('umount', ['-l', path], { stdio: 'ignore' });
      } catch {
        // Already gone with its parent.
      }
    }
  }
  if (mountsUnder(dir).length === 0) rmSync(dir, { recursive: true, force: true });
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((path) => path === dir || path.startsWith(`${dir}/`));
}

/** Waits for `promise` (its failure ignored), but no longer than `ms`; true if it settled. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, late]);
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
