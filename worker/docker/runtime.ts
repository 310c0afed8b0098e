/**
 * The ContainerRuntime port over a Docker engine, through dockerode: each execution runs in a
 * fresh, locked-down container of its own, removed after it whatever happens, so that nothing of
 * one execution (files, processes, output) is there for the next. The container is pre-started
 * when the pool has one ready (prestart-pool.ts), else created and started on the spot.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { type ContainerRunOutcome, attemptOf } from '../../src/domain/execution-outcome.ts';
import type { ContainerRunSpec, ContainerRuntime } from '../../src/ports/container-runtime.ts';
import type { WarmFunctions, WarmTarget } from '../../src/ports/job-bus.ts';
import type { Logger } from '../../src/ports/logger.ts';
import type { ImagePruner } from '../disk/index.ts';
import { isNoSuchImage } from '../docker-engine.ts';
import { type ContainerIdentity, type ContainerTemplate, type LockDown, MiB, containerConfig, executionContainerName } from './container-config.ts';
import { abortReason, notStarted, notStartedBy } from './failure-reasons.ts';
import { goEnvProblem } from '../agent/protocol.ts';
import { type ImageCommand, type PullPolicy, imageCommand, imageSupply } from './images.ts';
import { PrepareError, type PreparedContainer, prepareContainer, removeContainer } from './prepare.ts';
import { type PoolCounts, type PoolSpec, type PrestartPool, type PrestartSettings, createPrestartPool, templateOf } from './prestart-pool.ts';
import { type ReuseCounts, type ReusePool, type ReuseSettings, createReusePool } from './reuse-pool.ts';
import { type RunSettings, reportPhase, runPrepared } from './run-container.ts';

export type DockerRuntimeOptions = {
  /** Written on every container as the `faasbox.worker` label, so a worker can find its leftovers. */
  workerId: string;
  /** Bytes kept of each of stdout and stderr; the rest is counted and dropped. Default 1 MiB. */
  outputLimitBytes?: number;
  /** `missing` (default) pulls an image only when the engine lacks it; `always` pulls every run. */
  pullPolicy?: PullPolicy;
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
   * How long to wait, once the container was killed or its agent went silent, for its last
   * output and its exit to arrive before giving up on them. Default 2000.
   */
  stopGraceMs?: number;
  /** The agent's binary (worker/agent), as the engine's host sees the path. */
  agentPath: string;
  /** Pre-started containers; none (every execution a cold start) when absent. */
  prestart?: PrestartSettings;
  /** Containers reused by the functions that ask for it; without, those run as any other. */
  reuse?: ReuseSettings;
  /** Where the pool's failures to pre-start are told. */
  log?: Logger;
  /**
   * Frees disk space: ahead of each pull when the disk is above high water, and when a pull,
   * create or start runs out of space (then that step is retried once). Without one, running
   * out of space fails the run with the engine's message.
   */
  pruner?: ImagePruner;
};

type Settings = LockDown & RunSettings & { pullPolicy: PullPolicy; outputLimitBytes: number; pruner: ImagePruner | null };

/** The Docker runtime, with what the worker drives beyond the port: the pool and its figures. */
export type DockerRuntime = ContainerRuntime & {
  /** Whether this runtime still owns the container (pooled, running, or being removed): not the reaper's. */
  owns(container: { containerId: string; slotId: string | null }): boolean;
  poolCounts(): PoolCounts;
  /** Containers kept for functions that reuse them: idle (clean, waiting) and busy (running or being cleaned). */
  reuseCounts(): ReuseCounts;
  /** Both pools per function id (the worker's report): only functions with containers or a minWarm. */
  poolsByFunction(): { prestarted: Record<string, { ready: number; starting: number; minWarm: number }>; reused: Record<string, ReuseCounts> };
  /** Drops the pre-started containers, so that their images can be pruned. */
  dropPrestarted(): Promise<void>;
  /** The function was deleted: its pre-started containers go now. */
  retireFunction(functionId: string): void;
  /** The function's warm target (its owner's minWarm), or null when it has none any more. */
  setWarmTarget(functionId: string, target: WarmTarget | null): void;
  /** Functions with a pre-started container ready (none without a pool). */
  readonly warm: WarmFunctions;
  /** Resolves once the removals under way now are done, the pool's included (tests, and close). */
  removalsSettled(): Promise<void>;
  /** Removes the pool's containers and waits for every removal under way. */
  close(): Promise<void>;
};

const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

const NO_WARM_FUNCTIONS: WarmFunctions = { has: () => false, list: () => [], onChange: () => () => {} };

/** The functions with a container ready in either pool: pre-started, or clean to be reused. */
const eitherWarm = (a: WarmFunctions, b: WarmFunctions): WarmFunctions => ({
  has: (functionId) => a.has(functionId) || b.has(functionId),
  list: () => [...new Set([...a.list(), ...b.list()])],
  onChange(listener) {
    const offs = [a.onChange(listener), b.onChange(listener)];
    return () => offs.forEach((off) => off());
  },
});

export function createDockerRuntime(docker: Docker, options: DockerRuntimeOptions): DockerRuntime {
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
    agentPath: options.agentPath,
    pruner: options.pruner ?? null,
  };
  const { pruner } = settings;
  const images = imageSupply(docker, settings.pullPolicy, pruner);
  /** Containers of finished executions being removed, off the request path. */
  const removing = new Map<string, Promise<void>>();
  const running = new Set<string>();
  /** Pre-started containers taken and being renamed after their execution, by container id. */
  const renaming = new Map<string, Promise<void>>();

  const prepare = (template: ContainerTemplate, identity: ContainerIdentity) =>
    prepareContainer(docker, containerConfig(template, identity, settings), { ...settings, mode: template.reuse ? 'reuse' : 'once' });

  /** A pool's container for the function, made ahead of a call (or, reused, for one). */
  const preparePooled = async (spec: PoolSpec, slotId: string, reuse: boolean) => {
    const command = await images.ensure(spec.image);
    const argv = imageCommand(command, spec.command);
    if (argv.length === 0) throw new Error('no command specified');
    return prepare(templateOf(spec, argv, reuse), { role: 'prestarted', functionId: spec.functionId, ownerId: spec.ownerId, slotId });
  };
  const holdImage = (image: string) => pruner?.hold(image) ?? (() => {});

  const pool: PrestartPool | null = options.prestart
    ? createPrestartPool(options.prestart, { prepare: (spec, slotId) => preparePooled(spec, slotId, false), hold: holdImage }, options.log ?? (() => {}))
    : null;
  const reusePool: ReusePool | null = options.reuse
    ? createReusePool(options.reuse, { prepare: (spec, slotId) => preparePooled(spec, slotId, true), hold: holdImage }, options.log ?? (() => {}))
    : null;

  /** The image's command; else the outcome of the run that could not get it. */
  const imageFor = async (spec: ContainerRunSpec): Promise<ImageCommand | ContainerRunOutcome> => {
    let command: ImageCommand;
    try {
      command = await images.ensure(spec.image);
    } catch (error) {
      return notStartedBy(docker, error, `image ${spec.image} could not be pulled`);
    }
    // A pull can outlast a worker's drain: what has not started by then is not started at all.
    return spec.signal?.aborted ? notStarted(abortReason(spec.signal)) : command;
  };

  /**
   * A container created and started for this execution (or, reused, for its function's
   * executions from this one on); else the outcome of the run that could not get one.
   */
  const coldStart = async (spec: ContainerRunSpec, reuseSlot: string | null = null): Promise<PreparedContainer | ContainerRunOutcome> => {
    const pulling = performance.now();
    let image = await imageFor(spec);
    if ('kind' in image) return image;
    reportPhase(spec, 'pull', pulling);
    const creating = performance.now();
    const identity: ContainerIdentity =
      reuseSlot === null
        ? { role: 'execution', executionId: spec.executionId, attempt: attemptOf(spec), correlationId: spec.correlationId }
        : { role: 'prestarted', functionId: spec.functionId, ownerId: spec.ownerId, slotId: reuseSlot };
    const templateFor = (command: ImageCommand): ContainerTemplate | null => {
      const argv = imageCommand(command, spec.command);
      return argv.length === 0 ? null : { image: spec.image, argv, env: spec.env, memoryMb: spec.memoryMb, reuse: reuseSlot !== null };
    };
    let template = templateFor(image);
    // The engine's own words for an image with no command and a function that names none.
    if (!template) return notStarted('container could not be created: no command specified');
    try {
      try {
        const prepared = await prepare(template, identity);
        reportPhase(spec, 'createStart', creating);
        return prepared;
      } catch (error) {
        // Gone since this runtime saw it: fetched again (the time counts in create_start).
        if (!(error instanceof PrepareError && error.step === 'created' && isNoSuchImage(error.cause)) || !images.forget(spec.image)) throw error;
        image = await imageFor(spec);
        if ('kind' in image) return image;
        template = templateFor(image);
        if (!template) return notStarted('container could not be created: no command specified');
        const prepared = await prepare(template, identity);
        reportPhase(spec, 'createStart', creating);
        return prepared;
      }
    } catch (error) {
      const step = error instanceof PrepareError ? error : null;
      return notStartedBy(docker, step ? step.cause : error, step ? step.message : 'container could not start');
    }
  };

  const removeInBackground = (prepared: PreparedContainer, spec: ContainerRunSpec) => {
    const { id } = prepared.container;
    prepared.session.close();
    const started = performance.now();
    const renamed = renaming.get(id);
    renaming.delete(id);
    // From the next turn of the loop: the outcome is handed over (in one process, recorded too)
    // before the engine's work of removing a container shares the host with it.
    const removal = Promise.all([renamed, nextTurn()]).then(() => removeContainer(prepared.container)).then(() => {
      reportPhase(spec, 'remove', started);
      removing.delete(id);
    });
    removing.set(id, removal);
  };

  /**
   * A function that asked for reuse: a clean container of it, or one made now that will serve
   * its next executions too. No rename: the container is the function's, not one execution's
   * (a reaper removes it without reporting anyone; the deadline sweeper ends what it ran).
   */
  const runReused = async (spec: ContainerRunSpec, reuse: ReusePool): Promise<ContainerRunOutcome> => {
    const taking = performance.now();
    let borrowed = await reuse.borrow(spec);
    if (borrowed) reportPhase(spec, 'take', taking);
    else {
      const slotId = reuse.slotFor();
      const cold = await coldStart(spec, slotId);
      if ('kind' in cold) {
        reuse.abandon(slotId);
        return cold;
      }
      borrowed = reuse.adopt(spec, cold, slotId);
    }
    const { id } = borrowed.prepared.container;
    running.add(id);
    let outcome: ContainerRunOutcome | undefined;
    try {
      outcome = await runPrepared(docker, borrowed.prepared, spec, settings, borrowed.start);
      return outcome;
    } finally {
      running.delete(id);
      // Only a run its agent reported serves again, once the agent says it is clean; a timeout
      // or a SIGKILL (the memory limit, perhaps) ended the container with the run.
      borrowed.giveBack(outcome?.kind === 'exited' && !outcome.oomKilled);
    }
  };

  const run = async (spec: ContainerRunSpec): Promise<ContainerRunOutcome> => {
    // Checked before any container is taken or made: variables the agent would refuse end the
    // run as one that could not start, in words that name no value, and cost no container.
    const envProblem = goEnvProblem(spec.secretEnv);
    if (envProblem) return notStarted(`container could not start: ${envProblem}`);
    if (spec.reuse && reusePool) return runReused(spec, reusePool);
    const taking = performance.now();
    const pooled = pool?.take(spec) ?? null;
    try {
      let prepared: PreparedContainer;
      if (pooled) {
        reportPhase(spec, 'take', taking);
        prepared = pooled;
        // Off the request path: only a reaper needs the name, if this worker dies meanwhile.
        renaming.set(pooled.container.id, pooled.container.rename({ name: executionContainerName(spec.executionId, attemptOf(spec)) }).catch(() => undefined));
      } else {
        const cold = await coldStart(spec);
        if ('kind' in cold) return cold;
        prepared = cold;
      }
      running.add(prepared.container.id);
      try {
        return await runPrepared(docker, prepared, spec, settings, pooled ? 'prestarted' : 'cold');
      } finally {
        running.delete(prepared.container.id);
        removeInBackground(prepared, spec);
      }
    } finally {
      pool?.done(spec.functionId);
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
    owns: (container) =>
      running.has(container.containerId) ||
      removing.has(container.containerId) ||
      (pool?.holds(container) ?? false) ||
      (reusePool?.holds(container) ?? false),
    poolCounts: () => pool?.counts() ?? { ready: 0, starting: 0, hits: 0, misses: 0 },
    reuseCounts: () => reusePool?.counts() ?? { idle: 0, busy: 0 },
    poolsByFunction: () => ({ prestarted: pool?.byFunction() ?? {}, reused: reusePool?.byFunction() ?? {} }),
    async dropPrestarted() {
      await Promise.all([pool?.drop(), reusePool?.drop()]);
    },
    retireFunction(functionId) {
      pool?.retire(functionId);
      reusePool?.retire(functionId);
    },
    setWarmTarget(functionId, target) {
      if (target === null) {
        pool?.clearTarget(functionId);
        return reusePool?.clearTarget(functionId);
      }
      const { minWarm, reuse, ...spec } = target;
      if (reuse && reusePool) reusePool.setTarget(spec, minWarm);
      else pool?.setTarget(spec, minWarm);
    },
    warm: eitherWarm(pool?.warm ?? NO_WARM_FUNCTIONS, reusePool?.warm ?? NO_WARM_FUNCTIONS),
    async removalsSettled() {
      await Promise.all([...removing.values(), pool?.removalsSettled(), reusePool?.removalsSettled()]);
    },
    async close() {
      await Promise.all([pool?.close(), reusePool?.close()]);
      await Promise.all(removing.values());
    },
  };
}

