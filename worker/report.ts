/**
 * A worker's reports about itself (src/ports/worker-report.ts): one soon after it starts, one
 * every interval, and its last words when it stops (`stopping`, then `stopped`). What it says is
 * gathered by `figures`, which its composition root builds from what the worker already counts
 * (worker/start.ts over Docker, the app suites over their scripted runtime): reporting reads the
 * pools and the pruner, and never waits on or touches an execution.
 */
// Node's timers, not the globals: Deno's global setInterval returns a number, which has no unref().
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { settlesWithin, withTimeout } from '../src/lib/timers.ts';
import type { JobBus } from '../src/ports/job-bus.ts';
import { type Logger, describeError } from '../src/ports/logger.ts';
import type { WorkerDisk, WorkerPrune, WorkerReport, WorkerState } from '../src/ports/worker-report.ts';
import type { DiskReading, ImagePruner, PruneSummary } from './disk/index.ts';
import type { DockerRuntime } from './docker/index.ts';

/** Every 5 s: an operator's view is that fresh, and a hundred workers are twenty small puts a second. */
export const REPORT_INTERVAL_MS = 5_000;
/** A stop's report gives up after this: a bus that is down must not hold up the shutdown. */
const LAST_REPORT_MS = 2_000;
/** An engine that has not answered a ping by then is reported unreachable. */
const PING_TIMEOUT_MS = 2_000;

/** What changes from one report to the next. */
export type WorkerFigures = Pick<WorkerReport, 'inFlight' | 'prestarted' | 'reused' | 'engineReachable' | 'disk' | 'lastPrunes'>;

export type WorkerReportOptions = {
  workerId: string;
  concurrency: number;
  figures: () => Promise<WorkerFigures>;
  log: Logger;
  intervalMs?: number;
  now?: () => Date;
};

export type WorkerReports = {
  /** Publishes the `stopping` report (the worker drains now), and no periodic one after it. */
  stopping(): Promise<void>;
  /** Publishes the `stopped` report: the last. */
  stopped(): Promise<void>;
};

export function startWorkerReports(bus: JobBus, options: WorkerReportOptions): WorkerReports {
  const { workerId, concurrency, figures, log } = options;
  const intervalMs = options.intervalMs ?? REPORT_INTERVAL_MS;
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  let failing = false;

  /** Never rejects: a report the bus refused is logged, and the next interval tries again. */
  const publish = async (state: WorkerState) => {
    try {
      const gathered = await figures();
      await bus.publishWorkerReport({ workerId, state, startedAt, reportedAt: now().toISOString(), intervalMs, concurrency, ...gathered });
      if (failing) log('info', 'worker reports reach the bus again', { workerId });
      failing = false;
    } catch (error) {
      // Once per outage, not once per interval.
      if (!failing) log('warn', 'worker report not published', { workerId, ...describeError(error) });
      failing = true;
    }
  };
  // One report at a time, in order: a late periodic report must not land after, and replace, the last word.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (state: WorkerState) => (queue = queue.then(() => publish(state)));
  /** A bus slower than the interval gets one periodic report at a time, not a pile. */
  let periodicPending = false;
  const periodic = () => {
    if (periodicPending) return;
    periodicPending = true;
    void enqueue('running').finally(() => (periodicPending = false));
  };

  // Soon after the start rather than in it: the bus and the engine are asked after what a
  // starting worker does first.
  const first = setTimeout(periodic, 100);
  first.unref();
  const timer = setInterval(periodic, intervalMs);
  timer.unref();

  const last = async (state: WorkerState) => {
    clearTimeout(first);
    clearInterval(timer);
    await settlesWithin(enqueue(state), LAST_REPORT_MS);
  };
  return { stopping: () => last('stopping'), stopped: () => last('stopped') };
}

/**
 * A Docker worker's figures, from what its runtime and pruner already count. The disk is measured
 * afresh (a statfs) when the data root is visible; when that fails the last reading stands, with
 * its time.
 */
export function dockerWorkerFigures(parts: {
  inFlight: () => number;
  runtime: Pick<DockerRuntime, 'poolsByFunction' | 'ping'>;
  pruner: Pick<ImagePruner, 'diskUsage' | 'lastDiskReading' | 'recentPrunes'>;
  water: { highWater: number; lowWater: number };
}): () => Promise<WorkerFigures> {
  const { runtime, pruner, water } = parts;
  return async () => {
    const [engineReachable] = await Promise.all([
      withTimeout(runtime.ping(), PING_TIMEOUT_MS).then(
        () => true,
        () => false,
      ),
      pruner.diskUsage().catch(() => null),
    ]);
    return {
      inFlight: parts.inFlight(),
      ...runtime.poolsByFunction(),
      engineReachable,
      disk: diskFigures(pruner.lastDiskReading(), water),
      lastPrunes: pruner.recentPrunes().map(pruneFigures),
    };
  };
}

export function diskFigures(reading: DiskReading | null, water: { highWater: number; lowWater: number }): WorkerDisk {
  return {
    usedPercent: reading === null ? null : Math.round(reading.usage.usedPercent * 10) / 10,
    usedBytes: reading?.usage.usedBytes ?? null,
    totalBytes: reading?.usage.totalBytes ?? null,
    measuredAt: reading === null ? null : new Date(reading.at).toISOString(),
    highWater: water.highWater,
    lowWater: water.lowWater,
  };
}

export function pruneFigures(summary: PruneSummary): WorkerPrune {
  return {
    at: new Date(summary.at).toISOString(),
    reason: summary.reason,
    outcome: summary.failed ? 'failed' : summary.imagesRemoved > 0 ? 'pruned' : 'nothing-pruned',
    imagesRemoved: summary.imagesRemoved,
    images: summary.images,
    bytesReclaimed: summary.bytesReclaimed,
    freedBytes: summary.freedBytes,
  };
}
