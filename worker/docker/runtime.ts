/**
 * The ContainerRuntime port over a Docker engine, through dockerode: each execution runs in a
 * fresh, locked-down container that is removed whatever happens, so that nothing of one
 * execution (files, processes, output) is there for the next.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { ContainerRunOutcome } from '../../src/domain/execution-outcome.ts';
import type { ContainerRunSpec, ContainerRuntime } from '../../src/ports/container-runtime.ts';
import { type ImagePruner, retriedWhenOutOfSpace } from '../disk/index.ts';
import { isNoSuchImage } from '../docker-engine.ts';
import { type LockDown, MiB, containerConfig } from './container-config.ts';
import { abortReason, failureReason, notStarted } from './failure-reasons.ts';
import { type PullPolicy, imageSupply } from './images.ts';
import { type RunSettings, reportPhase, runCreatedContainer } from './run-container.ts';

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

type Settings = LockDown & RunSettings & { pullPolicy: PullPolicy };

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
  const images = imageSupply(docker, settings.pullPolicy, pruner);

  /** Null when the image is there; else the outcome of the run that could not get it. */
  const imageUnavailable = async (spec: ContainerRunSpec): Promise<ContainerRunOutcome | null> => {
    try {
      await images.ensure(spec.image);
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
        if (!isNoSuchImage(error) || !images.forget(spec.image)) throw error;
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

async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch {
    // Already gone, or the engine went away: a labelled leftover is removed by the reaper of the
    // next worker to start (reaper.ts), and the outcome of the run is already known.
  }
}
