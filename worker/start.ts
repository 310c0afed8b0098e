/**
 * The worker's composition root: from the config, a job bus and the process's metrics it builds
 * the Docker engine connection, the image pruner, the container runtime with its pool of
 * pre-started containers, and the job consumer with its reaper, keeps the disk under its
 * high-water mark, and reports on itself over the bus (report.ts). Entries (src/entry/) call it;
 * nothing below imports it.
 */
import { Agent } from 'node:http';
import { hostname } from 'node:os';
import { inspect } from 'node:util';
// Node's timers, not the globals: Deno's global setInterval returns a number, which has no unref().
import { setInterval } from 'node:timers';
import Docker from 'dockerode';
import type { Config } from '../src/config-type.ts';
import { type Logger } from '../src/ports/logger.ts';
import type { Metrics } from '../src/metrics/metrics.ts';
import type { JobBus } from '../src/ports/job-bus.ts';
import { createImagePruner } from './disk/index.ts';
import { createDockerRuntime, reapOrphans } from './docker/index.ts';
import { measurePrestartPool, measureReusePool } from '../src/metrics/metrics.ts';
import { agentBinary } from './agent/binary.ts';
import { dockerWorkerFigures, startWorkerReports } from './report.ts';
import { type RunningWorker, startWorker } from './worker.ts';

/**
 * docker-modem 5 formats every request's options with `util.inspect(…, { showHidden: true,
 * depth: null })` even when its debug log is off, our agent included. An Agent with live sockets
 * took 40–70 ms of CPU to format, on every create, start, attach and remove, blocking the event
 * loop of the whole process (the api's too, in one process). It says its name instead.
 */
class EngineAgent extends Agent {
  [inspect.custom]() {
    return 'EngineAgent';
  }
}

export type StartedWorker = RunningWorker & { workerId: string };

export function startWorkerRole(config: Config, bus: JobBus, metrics: Metrics, log: Logger): StartedWorker {
  // A new connection per request, none kept alive: an engine that stops closes its socket
  // first and kills its containers after, still answering on connections already open. Only a
  // new connection tells the runtime that the engine, not the function, ended a run.
  // (docker-modem takes `agent`; dockerode's types do not list it.)
  const engine = { ...(config.docker ?? { socketPath: '/var/run/docker.sock' }), agent: new EngineAgent({ keepAlive: false }) };
  const docker = new Docker(engine as Docker.DockerOptions);
  const workerId = config.worker.id ?? hostname();
  // Pre-started containers are dropped before images when the disk needs room: their images
  // cannot be pruned while a container of them exists.
  let dropPrestarted = async () => {};
  const pruner = createImagePruner(docker, {
    beforePrune: () => dropPrestarted(),
    keepImages: config.worker.keepImages,
    highWater: config.worker.diskHighWater,
    lowWater: config.worker.diskLowWater,
    log,
    metrics,
  });
  const containers = createDockerRuntime(docker, {
    workerId,
    pullPolicy: config.worker.pullPolicy,
    outputLimitBytes: config.worker.outputLimitBytes,
    allowRoot: config.worker.allowRoot,
    nofile: config.worker.nofile,
    agentPath: agentBinary(config.worker.agentPath, !config.docker || 'socketPath' in config.docker),
    prestart: config.prestart.enabled ? config.prestart : undefined,
    // One container per execution at once at most; it lives as long as a pre-started one may wait.
    reuse: config.reuse.enabled
      ? { maxExecutions: config.reuse.maxExecutions, maxAgeMs: config.prestart.maxAgeMs, idleMs: config.prestart.idleMs, perFunction: config.worker.concurrency }
      : undefined,
    log,
    pruner,
  });
  dropPrestarted = () => containers.dropPrestarted();
  measurePrestartPool(metrics, () => containers.poolCounts());
  measureReusePool(metrics, () => containers.reuseCounts());
  // A live worker kills a container by its function's timeout: past the longest timeout plus
  // the grace, its worker is gone.
  const overdueAfterMs = config.functionLimits.maxTimeoutMs + config.executions.graceMs;
  const worker = startWorker(bus, containers, log, {
    workerId,
    concurrency: config.worker.concurrency,
    drainTimeoutMs: config.worker.drainTimeoutMs,
    metrics,
    warm: containers.warm,
    reaper: {
      intervalMs: config.worker.housekeepingIntervalMs,
      reap: ({ isInFlight, report }) =>
        reapOrphans(docker, {
          workerId,
          isInFlight,
          isOwned: (container) => containers.owns(container),
          report,
          overdueAfterMs,
          prestartedMaxAgeMs: config.prestart.maxAgeMs,
        }),
    },
  });
  // Keeps the disk under the high-water mark between pulls too (it never rejects).
  const diskCheck = setInterval(() => void pruner.pruneToLowWater(), config.worker.housekeepingIntervalMs);
  diskCheck.unref();
  const retirements = bus.watchFunctionRetirements((functionId) => containers.retireFunction(functionId));
  const warmTargets = bus.watchWarmTargets((functionId, target) => containers.setWarmTarget(functionId, target));
  const reports = startWorkerReports(bus, {
    workerId,
    concurrency: config.worker.concurrency,
    log,
    figures: dockerWorkerFigures({
      inFlight: () => worker.inFlight,
      runtime: containers,
      pruner,
      water: { highWater: config.worker.diskHighWater, lowWater: config.worker.diskLowWater },
    }),
  });
  return {
    workerId,
    get inFlight() {
      return worker.inFlight;
    },
    async stop() {
      clearInterval(diskCheck);
      // Not awaited before the drain: a slow bus must not keep the consumer taking jobs meanwhile.
      const announced = reports.stopping();
      await Promise.all([retirements.stop(), warmTargets.stop()]);
      await worker.stop();
      await containers.close();
      await announced;
      // After the pools are gone, so that the last word has none of their containers.
      await reports.stopped();
    },
  };
}
