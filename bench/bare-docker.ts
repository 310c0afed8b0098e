/**
 * The baseline of every execution figure: the same image run straight through dockerode, as a
 * careful user would without Faasbox — create → start → wait → logs → remove — with the same
 * lock-down the worker applies (worker/docker/container-config.ts), so that the ratio
 * prices the platform and not a difference in what the engine was asked to do.
 *
 * Two differences are deliberate: no stdin is attached (the function reads none), and the output
 * is read with `logs` from the engine's default log driver, where the worker attaches before the
 * start and turns the log driver off.
 */
import Docker from 'dockerode';

/** The engine the platform's workers use too (their default, DOCKER_HOST unset). */
export const engine = new Docker({ socketPath: '/var/run/docker.sock' });

/** On every bench container, `faasbox.bench=<this run>`, so a failed run can find what it left. */
const BENCH_LABEL = 'faasbox.bench';
const RUN_ID = `${process.pid}-${Date.now()}`;

const MiB = 1024 * 1024;
const NOBODY = '65534:65534';
/** The worker's defaults (DockerRuntimeOptions) and the function's (FAASBOX_DEFAULT_MEMORY_MB). */
const PIDS_LIMIT = 128;
const NANO_CPUS = 1e9;
const TMPFS_SIZE_MB = 64;
const MEMORY_MB = 128;

export type BareRun = {
  ms: number;
  exitCode: number;
  /** Each step's ms, to set beside the platform's phases. */
  steps: { create: number; start: number; wait: number; logs: number; remove: number };
};

export async function runBare(image: string, command: string[]): Promise<BareRun> {
  const started = performance.now();
  let last = started;
  const step = () => {
    const now = performance.now();
    const ms = now - last;
    last = now;
    return ms;
  };
  const container = await engine.createContainer({
    Image: image,
    Cmd: command,
    User: NOBODY,
    Labels: { [BENCH_LABEL]: RUN_ID },
    Tty: false,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,noexec,nosuid,size=${TMPFS_SIZE_MB}m` },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: PIDS_LIMIT,
      Memory: MEMORY_MB * MiB,
      MemorySwap: MEMORY_MB * MiB,
      NanoCpus: NANO_CPUS,
      Init: true,
    },
  });
  const create = step();
  let removed = false;
  try {
    await container.start();
    const start = step();
    const { StatusCode: exitCode } = (await container.wait()) as { StatusCode: number };
    const wait = step();
    await container.logs({ stdout: true, stderr: true, follow: false });
    const logs = step();
    await container.remove({ force: true, v: true });
    removed = true;
    const remove = step();
    return { ms: performance.now() - started, exitCode, steps: { create, start, wait, logs, remove } };
  } finally {
    if (!removed) await container.remove({ force: true, v: true }).catch(() => {});
  }
}

/**
 * Removes every container this run left behind: its own (by label) and those of the workers
 * it started (by their `faasbox.worker` label). Returns how many there were.
 */
export async function removeLeftovers(workerIds: readonly string[] = []): Promise<number> {
  const labels = [`${BENCH_LABEL}=${RUN_ID}`, ...workerIds.map((id) => `faasbox.worker=${id}`)];
  let removed = 0;
  for (const label of labels) {
    const containers = await engine.listContainers({ all: true, filters: { label: [label] } });
    for (const { Id } of containers) {
      await engine
        .getContainer(Id)
        .remove({ force: true, v: true })
        .then(() => removed++)
        .catch(() => {});
    }
  }
  return removed;
}
