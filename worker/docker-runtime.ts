/**
 * The ContainerRuntime port over a Docker engine, through dockerode: each execution runs in a
 * fresh, locked-down container that is removed whatever happens (DESIGN.md §6). Everything that
 * knows dockerode lives in this file, and in image-pruner.ts for disk pressure.
 */
import { performance } from 'node:perf_hooks';
import { type Duplex, Writable } from 'node:stream';
import type Docker from 'dockerode';
import type { ContainerPhase, ContainerRunOutcome, ContainerRunSpec, ContainerRuntime } from '../src/ports/container-runtime.ts';
import { demuxOutput } from './demux-output.ts';
import { engineMessage, hasImage, isNoSuchImage, messageOf } from './docker-engine.ts';
import { type ImagePruner, isOutOfSpace } from './image-pruner.ts';

export type DockerRuntimeOptions = {
  /** Written on every container as the `faasbox.worker` label, so a worker can find its leftovers. */
  workerId: string;
  /** Bytes kept of each of stdout and stderr; the rest is counted and dropped. Default 1 MiB. */
  outputLimitBytes?: number;
  /** `missing` (default) pulls an image only when the engine lacks it; `always` pulls every run. */
  pullPolicy?: 'missing' | 'always';
  /** Run as the image's own user instead of nobody (65534:65534). Default false. */
  allowRoot?: boolean;
  /** Default 128. */
  pidsLimit?: number;
  /** CPU quota in billionths of a CPU. Default 1e9 (one CPU). */
  nanoCpus?: number;
  /** Size of the writable /tmp. Default 64. */
  tmpfsSizeMb?: number;
  /**
   * Open files per process (RLIMIT_NOFILE). The engine's default (tens of thousands) times the
   * pids limit exceeds the host's whole file table, so one function could starve every other
   * process of descriptors. Default 1024 soft, 4096 hard.
   */
  nofile?: { soft: number; hard: number };
  /**
   * How long to wait, once the container exited or was killed, for its last output and its exit
   * to arrive before giving up on them. Default 2000.
   */
  stopGraceMs?: number;
  /**
   * Run docker-init (tini) as PID 1, so that zombies are reaped and the pids limit is not eaten
   * by them. Default true; turn it off for an engine without docker-init.
   */
  init?: boolean;
  /**
   * Frees disk space: ahead of each pull when the disk is above high water, and when a pull,
   * create or start runs out of space (then that step is retried once). Without one, running
   * out of space fails the run with the engine's message.
   */
  pruner?: ImagePruner;
};

type Settings = Required<Omit<DockerRuntimeOptions, 'pruner'>> & { pruner: ImagePruner | null };

const MiB = 1024 * 1024;
const NOBODY = '65534:65534';
// setTimeout fires at once for a delay past 2^31-1 ms (about 24.8 days).
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export function createDockerRuntime(docker: Docker, options: DockerRuntimeOptions): ContainerRuntime {
  const settings: Settings = {
    workerId: options.workerId,
    outputLimitBytes: options.outputLimitBytes ?? MiB,
    pullPolicy: options.pullPolicy ?? 'missing',
    allowRoot: options.allowRoot ?? false,
    pidsLimit: options.pidsLimit ?? 128,
    nanoCpus: options.nanoCpus ?? 1e9,
    tmpfsSizeMb: options.tmpfsSizeMb ?? 64,
    nofile: options.nofile ?? { soft: 1024, hard: 4096 },
    stopGraceMs: options.stopGraceMs ?? 2000,
    init: options.init ?? true,
    pruner: options.pruner ?? null,
  };
  const { pruner } = settings;
  // The proactive prune and the out-of-space retry are part of the shared pull, so that runs
  // waiting for the same image cause one prune and one retry, not one each.
  const pullOnce = sharePullsInFlight(async (image) => {
    await pruner?.pruneToLowWater();
    await retriedWhenOutOfSpace(pruner, `pull of ${image}`, () => pullToTheEnd(docker, image));
  });

  /**
   * Images this runtime has found on the engine (or pulled). With the `missing` policy a run of
   * one goes straight to the create: asking the engine first would cost every execution a round
   * trip (a few ms of a cold start). One removed since (by a prune, another worker's on the same
   * engine, an operator) fails that create with "No such image"; the run then makes sure of the
   * image as on first use and creates again.
   */
  const seenOnEngine = new Set<string>();

  const ensureImage = async (image: string) => {
    if (settings.pullPolicy === 'missing' && (seenOnEngine.has(image) || (await hasImage(docker, image)))) {
      seenOnEngine.add(image);
      return;
    }
    await pullOnce(image);
    seenOnEngine.add(image);
  };

  /** Null when the image is there; else the outcome of the run that could not get it. */
  const imageUnavailable = async (spec: ContainerRunSpec): Promise<ContainerRunOutcome | null> => {
    try {
      await ensureImage(spec.image);
    } catch (error) {
      return notStarted(await failureReason(docker, error, `image ${spec.image} could not be pulled`));
    }
    // A pull can outlast a worker's drain: what has not started by then is not started at all.
    return spec.signal?.aborted ? notStarted(abortReason(spec.signal)) : null;
  };

  const run = async (spec: ContainerRunSpec): Promise<ContainerRunOutcome> => {
    const pulling = performance.now();
    const noImage = await imageUnavailable(spec);
    if (noImage) return noImage;
    reportPhase(spec, 'pull', pulling);
    const creating = performance.now();
    const config = containerConfig(spec, settings);
    const create = () => retriedWhenOutOfSpace(pruner, `create from ${spec.image}`, () => docker.createContainer(config));
    let container: Docker.Container;
    try {
      try {
        container = await create();
      } catch (error) {
        // Gone since this runtime saw it: fetched again (the time counts in create_start).
        if (!isNoSuchImage(error) || !seenOnEngine.delete(spec.image)) throw error;
        const stillNoImage = await imageUnavailable(spec);
        if (stillNoImage) return stillNoImage;
        container = await create();
      }
    } catch (error) {
      // Nothing to remove: a failed create leaves no container (and a name conflict means the
      // container that holds the name is not ours to remove).
      return notStarted(await failureReason(docker, error, 'container could not be created'));
    }
    try {
      return await runCreatedContainer(docker, container, spec, settings, creating);
    } finally {
      const removing = performance.now();
      await removeContainer(container);
      reportPhase(spec, 'remove', removing);
    }
  };

  return {
    async run(spec) {
      pruner?.recordUse(spec.image);
      // Held for the whole run: between "the image is there" and the create, only this hold
      // keeps a prune from taking it; after the create the container does too, harmlessly.
      const release = pruner?.hold(spec.image);
      try {
        return await run(spec);
      } finally {
        release?.();
      }
    },
    async ping() {
      await docker.ping();
    },
  };
}

function containerConfig(spec: ContainerRunSpec, settings: Settings): Docker.ContainerCreateOptions {
  const memoryBytes = spec.memoryMb * MiB;
  const labels = {
    'faasbox.execution': spec.executionId,
    'faasbox.worker': settings.workerId,
    'faasbox.correlation': spec.correlationId,
  };
  return {
    name: `faasbox-${spec.executionId}`,
    Image: spec.image,
    // An empty command would mean "nothing"; the port only knows "the image's own" (null).
    Cmd: spec.command && spec.command.length > 0 ? spec.command : undefined,
    Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    User: settings.allowRoot ? undefined : NOBODY,
    Labels: labels,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    // The engine closes the container's stdin when our attach connection closes its write side.
    StdinOnce: true,
    Tty: false,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Mounts: [scratchTmp(settings.tmpfsSizeMb, labels)],
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: settings.pidsLimit,
      Ulimits: [{ Name: 'nofile', Soft: settings.nofile.soft, Hard: settings.nofile.hard }],
      // Memory equal to memory+swap: no swap, so the limit is what the function really gets.
      Memory: memoryBytes,
      MemorySwap: memoryBytes,
      NanoCpus: settings.nanoCpus,
      Init: settings.init,
      // Output is read from the attach stream and capped there; a log driver would only store a
      // second, uncapped copy on the engine's disk.
      LogConfig: { Type: 'none', Config: {} },
    },
  };
}

/**
 * /tmp as every function author expects it, whatever the image: empty, sticky and writable by
 * all (1777), capped, not executable. A plain tmpfs mount (`Tmpfs`) cannot promise the mode:
 * runc before 1.1.8 (Debian 12 ships 1.1.5) chmods it back to the mode of the image's own /tmp,
 * 0755 root in many minimal images (opencontainers/runc#3911). A tmpfs volume is bind-mounted,
 * which runc leaves alone; `NoCopy` keeps the engine from copying the image's /tmp into it, its
 * mode included. The volume is anonymous and goes with the container (removed with `v`); it
 * carries the container's labels, so that one left behind can be traced to its execution.
 */
function scratchTmp(sizeMb: number, labels: Record<string, string>): Docker.MountSettings {
  return {
    Type: 'volume',
    // No name: an anonymous volume, created with the container.
    Source: '',
    Target: '/tmp',
    VolumeOptions: {
      NoCopy: true,
      Labels: labels,
      DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: `size=${sizeMb}m,mode=1777,noexec,nosuid,nodev` } },
    },
  };
}

/** Attach, start, report the start, feed stdin, wait (or kill at the deadline), and read the result. */
async function runCreatedContainer(
  docker: Docker,
  container: Docker.Container,
  spec: ContainerRunSpec,
  settings: Settings,
  /** When the create began (performance.now()): the create-and-start phase runs from there. */
  creating: number,
): Promise<ContainerRunOutcome> {
  const stdout = cappedCollector(settings.outputLimitBytes);
  const stderr = cappedCollector(settings.outputLimitBytes);
  // Attached before start, so not a byte of output is missed.
  const attach = async () => {
    const attached = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    // Writing stdin to a container that exited without reading it fails (EPIPE); the outcome is
    // decided by the exit, not by the socket.
    attached.on('error', () => {});
    demuxOutput(attached, stdout.sink, stderr.sink);
    return { stream: attached, outputEnded: endOf(attached) };
  };
  let connection: Awaited<ReturnType<typeof attach>>;
  try {
    connection = await attach();
  } catch (error) {
    return notStarted(await failureReason(docker, error, 'container could not be attached'));
  }

  try {
    try {
      await retriedWhenOutOfSpace(
        settings.pruner,
        `start from ${spec.image}`,
        () => container.start(),
        // A failed start leaves the container created, so it can be started again, but the
        // engine closes its streams: the retry needs a new attach (seen on Docker 20.10).
        async () => {
          connection.stream.destroy();
          connection = await attach();
        },
      );
    } catch (error) {
      return notStarted(await failureReason(docker, error, 'container could not start'));
    }
    const { stream, outputEnded } = connection;
    const startedAt = performance.now();
    reportPhase(spec, 'createStart', creating, startedAt);
    // The deadline runs from the start, not from the end of onStarted: a slow ack must not give
    // user code more time.
    const ending = exitOrKillAtDeadline(container, spec.timeoutMs, settings.stopGraceMs, spec.signal, outputEnded);
    ending.catch(() => {}); // awaited below; this only keeps an early rejection from being "unhandled"

    try {
      await spec.onStarted(container.id);
    } catch (error) {
      // The job could not be acked: let the run end here rather than risk running it twice.
      await killContainer(container);
      return { kind: 'failed', reason: `start could not be reported: ${messageOf(error)}`, started: true };
    }
    stream.end(Buffer.from(spec.stdin.buffer, spec.stdin.byteOffset, spec.stdin.byteLength));

    const end = await ending;
    reportPhase(spec, 'run', startedAt, end.at);
    await settledWithin(outputEnded, settings.stopGraceMs);
    const collected = () => ({
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.truncated || stderr.truncated,
      durationMs: Math.round(end.at - startedAt),
    });
    if (end.kind === 'timedOut') return { kind: 'timedOut', ...collected() };
    if (end.kind === 'aborted') return { kind: 'failed', reason: abortReason(spec.signal), started: true };

    const { State: state } = await container.inspect();
    const output = collected();
    const execFailure = settings.init ? initExecFailure(state.ExitCode, output.stderr) : null;
    if (execFailure) return notStarted(`container could not start: ${execFailure}`);
    return { kind: 'exited', exitCode: state.ExitCode, oomKilled: state.OOMKilled, ...output };
  } catch (error) {
    return { kind: 'failed', reason: await failureReason(docker, error, 'container failed'), started: true };
  } finally {
    connection.stream.destroy();
  }
}

type Ending = { kind: 'exited' | 'timedOut' | 'aborted'; at: number };

/** Tells the caller how long a phase took; a faulty listener must not fail the run. */
function reportPhase(spec: ContainerRunSpec, phase: ContainerPhase, from: number, to = performance.now()) {
  try {
    spec.onPhase?.(phase, Math.max(0, Math.round(to - from)));
  } catch {}
}

/**
 * Resolves when the container exits, or at the deadline (or an abort) after killing it with
 * SIGKILL (a process that ignores SIGTERM must still stop) and waiting a grace period for the exit.
 */
async function exitOrKillAtDeadline(
  container: Docker.Container,
  timeoutMs: number,
  graceMs: number,
  signal: AbortSignal | undefined,
  outputEnded: Promise<void>,
): Promise<Ending> {
  const exited = container.wait().then((): Ending => ({ kind: 'exited', at: performance.now() }));
  const exitedOrEngineGone = exitUnlessEngineGone(container, exited, outputEnded, graceMs);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<Ending>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timedOut', at: performance.now() }), Math.min(timeoutMs, LONGEST_TIMER_MS));
    onAbort = () => resolve({ kind: 'aborted', at: performance.now() });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const end = await Promise.race([exited, exitedOrEngineGone, deadline]);
    if (end.kind !== 'exited') {
      await killContainer(container);
      await settledWithin(exited, graceMs);
    }
    return end;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The wait, unless the engine went away: docker-modem settles a wait only when the engine's
 * answer ends, so when the engine dies mid-run the connection closes and the wait never settles.
 * The attach stream closes with it: once the output has ended and the wait has not answered
 * within the grace, the engine is asked. Unreachable, it rejects with that error; a container
 * that closed its output and runs on leaves it to the wait and the deadline.
 */
async function exitUnlessEngineGone(container: Docker.Container, exited: Promise<Ending>, outputEnded: Promise<void>, graceMs: number): Promise<Ending> {
  await outputEnded;
  if (await settledWithin(exited, graceMs)) return exited;
  const { State: state } = await container.inspect();
  return state.Running ? exited : { kind: 'exited', at: performance.now() };
}

const abortReason = (signal: AbortSignal | undefined) =>
  typeof signal?.reason === 'string' ? signal.reason : 'the execution was stopped by the worker';

async function killContainer(container: Docker.Container): Promise<void> {
  // Fails when the container has just exited on its own, which is as good.
  await container.kill({ signal: 'SIGKILL' }).catch(() => {});
}

async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch {
    // Already gone, or the engine went away: a labelled leftover is removed by the next worker
    // that starts (DESIGN.md §5), and the outcome of the run is already known.
  }
}

/**
 * tini (docker-init) starts before the user's command, so an executable missing from the image
 * is not a start error from the engine but tini's own message and exit code 127 (126 when not
 * executable). Seen that way, it is a container that could not start, not user code that failed.
 */
function initExecFailure(exitCode: number, stderr: string): string | null {
  if (exitCode !== 126 && exitCode !== 127) return null;
  return /^\[FATAL tini \(\d+\)\] (exec .*? failed: [^\n]*)/.exec(stderr)?.[1] ?? null;
}

// ---- images


/** One pull per image at a time: concurrent runs of an absent image wait for the same pull. */
function sharePullsInFlight(pull: (image: string) => Promise<void>): (image: string) => Promise<void> {
  const inFlight = new Map<string, Promise<void>>();
  return (image) => {
    let pulling = inFlight.get(image);
    if (!pulling) {
      pulling = pull(image).finally(() => inFlight.delete(image));
      inFlight.set(image, pulling);
    }
    return pulling;
  };
}

// ---- disk space

/** The whole reason a run fails with when pruning did not free enough for the step to succeed. */
export const NO_DISK_SPACE = 'no disk space on worker after pruning';

class NoDiskSpaceError extends Error {
  override readonly name = 'NoDiskSpaceError';
  constructor() {
    super(NO_DISK_SPACE);
  }
}

/**
 * Runs `step`; if it ran out of disk space, prunes unused images, makes ready for a second try
 * (`beforeRetry`), and runs it once more.
 */
async function retriedWhenOutOfSpace<T>(
  pruner: ImagePruner | null,
  step: string,
  action: () => Promise<T>,
  beforeRetry: () => Promise<void> = async () => {},
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (pruner === null || !isOutOfSpace(error)) throw error;
  }
  // The prune never rejects; it reports (and logs) what it could free, which may be nothing.
  await pruner.pruneUnused(`${step} ran out of disk space`);
  await beforeRetry();
  try {
    return await action();
  } catch (error) {
    throw isOutOfSpace(error) ? new NoDiskSpaceError() : error;
  }
}

/**
 * dockerode's pull resolves as soon as the engine starts streaming progress; the image is there
 * only when the stream ends, and a failure half-way (a missing layer, a registry that went away)
 * arrives as an event in that stream, not as an HTTP error.
 */
async function pullToTheEnd(docker: Docker, image: string): Promise<void> {
  const progress = await docker.pull(image);
  await new Promise<void>((resolve, reject) => {
    let failure: string | null = null;
    docker.modem.followProgress(
      progress,
      (error) => (error ? reject(error) : failure ? reject(new Error(failure)) : resolve()),
      (event: { error?: string; errorDetail?: { message?: string } }) => {
        failure ??= event.errorDetail?.message ?? event.error ?? null;
      },
    );
  });
}

// ---- output

type CappedCollector = {
  /** Where the demultiplexer writes. */
  sink: Writable;
  readonly truncated: boolean;
  /** What was kept, as UTF-8 (invalid bytes replaced). */
  text(): string;
};

/**
 * Keeps the first `limit` bytes written and only counts the rest, so that a container writing
 * a gigabyte costs `limit` bytes of memory, not a gigabyte. It keeps consuming after the cap:
 * a container blocked on a full pipe would never exit.
 */
function cappedCollector(limit: number): CappedCollector {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let droppedBytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const room = limit - keptBytes;
      if (room > 0) {
        // A copy: the chunk may be a view into a larger buffer that would stay alive with it.
        const part = Buffer.from(chunk.subarray(0, room));
        kept.push(part);
        keptBytes += part.length;
      }
      droppedBytes += Math.max(0, chunk.length - Math.max(room, 0));
      done();
    },
  });
  return {
    sink,
    get truncated() {
      return droppedBytes > 0;
    },
    text() {
      const bytes = Buffer.concat(kept, keptBytes);
      return (droppedBytes > 0 ? withoutCutCharacter(bytes) : bytes).toString('utf8');
    },
  };
}

/** The cap may cut a multi-byte character in two; drop its first half rather than show U+FFFD. */
function withoutCutCharacter(bytes: Buffer): Buffer {
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const byte = bytes[bytes.length - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? bytes.subarray(0, bytes.length - back) : bytes;
  }
  return bytes;
}

// ---- small waits

function endOf(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}

/** Waits for `promise` (its failure ignored), but no longer than `ms`; true if it settled. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = await Promise.race([promise.then(settledOk, settledOk), elapsed]);
  clearTimeout(timer);
  return settled;
}

const settledOk = () => true as const;

// ---- errors

const notStarted = (reason: string): ContainerRunOutcome => ({ kind: 'failed', reason, started: false });

/** Why a step of the run failed, as the run's reason: `what` says which step. */
async function failureReason(docker: Docker, error: unknown, what: string): Promise<string> {
  if (error instanceof NoDiskSpaceError) return NO_DISK_SPACE;
  if (isEngineUnreachable(error)) return engineUnavailable(error);
  // An engine going away fails a request in more ways than these: a broken pipe, errors of its
  // own while it stops ("transport is closing"). Whether it is going, only a new connection
  // tells (see src/entry/start.ts).
  if (mayBeEngineGoing(error) && !(await answers(docker))) return engineUnavailable(error);
  return `${what}: ${engineMessage(error)}`;
}

/** No answer from the engine at all, or a server error: not something the function's owner did. */
const mayBeEngineGoing = (error: unknown) => {
  const { statusCode } = (error ?? {}) as { statusCode?: unknown };
  return statusCode === undefined || Number(statusCode) >= 500;
};

/** Whether the engine answers a ping, and soon: a frozen engine must not hold up the run's report. */
async function answers(docker: Docker): Promise<boolean> {
  let answered = false;
  await settledWithin(
    docker.ping().then(() => (answered = true)),
    ENGINE_PING_TIMEOUT_MS,
  );
  return answered;
}

const ENGINE_PING_TIMEOUT_MS = 2000;

const engineUnavailable = (error: unknown) => `container engine unavailable: ${engineMessage(error)}`;

/** Socket errors from reaching the engine at all (no HTTP status): the engine is not there. */
const ENGINE_UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function isEngineUnreachable(error: unknown): boolean {
  const { code, statusCode } = (error ?? {}) as { code?: unknown; statusCode?: unknown };
  return statusCode === undefined && typeof code === 'string' && ENGINE_UNREACHABLE_CODES.has(code);
}
