/**
 * What a worker says of itself, every few seconds, over the bus (`JobBus.publishWorkerReport`),
 * for operators (`GET /v1/admin/workers`). Figures only: never a job's stdin, an env value, a
 * secret or an engine's address. The api keeps nothing of it; the bus keeps each worker's last
 * report for `WORKER_REPORTS_KEPT_MS`, so a worker killed without a word drops out by itself.
 */

/** running: taking jobs; stopping: draining its executions; stopped: its last word. */
export type WorkerState = 'running' | 'stopping' | 'stopped';

/** A function's pre-started containers on the worker: ready for a call, being made, its owner's minWarm. */
export type PrestartedContainers = { ready: number; starting: number; minWarm: number };

/** A reusing function's containers: idle (clean, waiting) and busy (running or being cleaned). */
export type ReusedContainers = { idle: number; busy: number };

/** The file system of the engine's data root, where images and containers take their room. */
export type WorkerDisk = {
  /** Null (all four) when the worker cannot see the data root (a remote engine). */
  usedPercent: number | null;
  usedBytes: number | null;
  totalBytes: number | null;
  /** When it was measured: the last reading the worker has, which may be older than the report. */
  measuredAt: string | null;
  /** Percent use above which the worker prunes images, and below which it stops. */
  highWater: number;
  lowWater: number;
};

/** One prune of unused images: `nothing-pruned` is "no image could be pruned", `failed` the engine's refusal to list. */
export type WorkerPrune = {
  at: string;
  reason: string;
  outcome: 'pruned' | 'nothing-pruned' | 'failed';
  imagesRemoved: number;
  /** The first names of the images removed (at most 10). */
  images: string[];
  /** Upper bound: the removed images' sizes, a layer shared with a kept image counted too. */
  bytesReclaimed: number;
  /** What the file system got back, when the worker can see it; else null. */
  freedBytes: number | null;
};

export type WorkerReport = {
  workerId: string;
  state: WorkerState;
  startedAt: string;
  /** By the worker's clock. */
  reportedAt: string;
  /** How often it reports: a report older than three of these is stale (its worker may be gone). */
  intervalMs: number;
  /** Executions it runs at once at most, and now. */
  concurrency: number;
  inFlight: number;
  /** By function id; functions with none are absent. */
  prestarted: Record<string, PrestartedContainers>;
  reused: Record<string, ReusedContainers>;
  /** Whether its Docker engine answered a ping for this report; null: it has none to ask (tests). */
  engineReachable: boolean | null;
  /** Null: it knows nothing of a disk (tests). */
  disk: WorkerDisk | null;
  /** Newest first, the last few. */
  lastPrunes: WorkerPrune[];
};

/**
 * How long the bus keeps a worker's last report. Longer than the three intervals after which it
 * is called stale: an operator sees a silent worker as stale for a while before it drops out.
 */
export const WORKER_REPORTS_KEPT_MS = 30_000;

/** Whether the report is older than three of its intervals at `now` (one with no readable time is). */
export const isStaleReport = (report: Pick<WorkerReport, 'reportedAt' | 'intervalMs'>, now: Date): boolean =>
  !(now.getTime() - Date.parse(report.reportedAt) <= 3 * report.intervalMs);
