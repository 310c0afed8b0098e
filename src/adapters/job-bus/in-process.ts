/**
 * The JobBus of the embedded default: api and worker in one process, so an in-memory queue is
 * as durable as the process that would consume it. It mirrors the NATS adapter's semantics so
 * that both pass the same contract suite:
 *  - a job or status whose id was published in the last `duplicateWindowMs` is dropped, as
 *    JetStream does with `Nats-Msg-Id` (an unbounded set would grow with every execution);
 *  - a job's slot is taken from delivery until its handler settles, whatever it did with the job;
 *  - a handler that settles (resolves or throws) without acking or releasing hands the job back
 *    after a short back-off, growing with each attempt (NATS: nak with the same delay);
 *  - each status goes to one status consumer at a time; a throwing handler gets it again after
 *    the same back-off. Statuses published while no status consumer runs wait for one;
 *  - a worker's report is kept until the next replaces it or it is older than
 *    `workerReportsKeptMs`, as the NATS bucket's max age drops it.
 */
import {
  BusUnavailableError,
  type Consumer,
  type Job,
  type JobBus,
  type JobDelivery,
  type StatusMessage,
  type StatusWatch,
  type WarmFunctions,
  type WarmTarget,
  attemptKey,
} from '../../ports/job-bus.ts';
import { WORKER_REPORTS_KEPT_MS, type WorkerReport } from '../../ports/worker-report.ts';
import { retryDelayMs } from './retry-delay.ts';

const duplicateWindowMs = 2 * 60_000;
const LAST_STATUSES_KEPT = 10_000;

type Queued<T> = { value: T; attempt: number };

type JobConsumer = {
  handler: (delivery: JobDelivery) => Promise<void>;
  concurrency: number;
  inFlight: number;
  stopped: boolean;
  warm: WarmFunctions | undefined;
};

type StatusConsumer = {
  handler: (status: StatusMessage) => Promise<void>;
  busy: boolean;
  stopped: boolean;
};

export type InProcessJobBusOptions = {
  /** How long a worker's report is kept after it was published (tests shorten it). */
  workerReportsKeptMs?: number;
};

export function createInProcessJobBus({ workerReportsKeptMs = WORKER_REPORTS_KEPT_MS }: InProcessJobBusOptions = {}): JobBus {
  let closed = false;
  const jobs: Queued<Job>[] = [];
  const statuses: Queued<StatusMessage>[] = [];
  const jobConsumers: JobConsumer[] = [];
  const statusConsumers: StatusConsumer[] = [];
  const watchers = new Map<string, Set<(status: StatusMessage) => void>>();
  const retirementListeners = new Set<(functionId: string) => void>();
  const warmTargets = new Map<string, WarmTarget>();
  const warmTargetListeners = new Set<(functionId: string, target: WarmTarget | null) => void>();
  const seenJobs = new RecentIds(duplicateWindowMs);
  const seenStatuses = new RecentIds(duplicateWindowMs);
  /** The last status of the most recent executions (lastStatus): bounded, as NATS keeps them a day. */
  const lastStatuses = new Map<string, StatusMessage>();
  /** Each worker's last report, and when it was stored (by this process's clock, as NATS uses its own). */
  const workerReports = new Map<string, { report: WorkerReport; storedAt: number }>();
  /** Jobs waiting out their back-off: not taken, so they count as pending. */
  let jobsBackingOff = 0;
  const timers = new Set<NodeJS.Timeout>();
  let nextJobConsumer = 0;
  let nextStatusConsumer = 0;

  const later = (delayMs: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, delayMs);
    timers.add(timer);
  };

  const ensureOpen = () => {
    if (closed) throw new BusUnavailableError('the in-process job bus is closed');
  };

  /**
   * A consumer with a free slot that holds the job's function warm first; else round robin over
   * consumers with a free slot, so two consumers share the work.
   */
  const free = (c: JobConsumer) => !c.stopped && c.inFlight < c.concurrency;
  const dispatchJobs = () => {
    while (jobs.length > 0) {
      const { functionId } = jobs[0]!.value;
      const consumer =
        pickRoundRobin(jobConsumers, nextJobConsumer, (c) => free(c) && (c.warm?.has(functionId) ?? false)) ??
        pickRoundRobin(jobConsumers, nextJobConsumer, free);
      if (!consumer) return;
      nextJobConsumer = jobConsumers.indexOf(consumer) + 1;
      deliverJob(consumer, jobs.shift()!);
    }
  };

  const deliverJob = (consumer: JobConsumer, queued: Queued<Job>) => {
    consumer.inFlight++;
    let settled = false;
    const delivery: JobDelivery = {
      job: structuredClone(queued.value),
      deliveries: queued.attempt,
      ack: async () => {
        settled = true;
      },
      release: async () => {
        if (settled) return;
        settled = true;
        // First in line again, as JetStream redelivers a nak'd message before newer ones.
        jobs.unshift({ value: queued.value, attempt: queued.attempt + 1 });
        queueMicrotask(dispatchJobs);
      },
    };
    void Promise.resolve()
      .then(() => consumer.handler(delivery))
      // A throwing handler is treated like one that returned without settling: the job comes back.
      .catch(() => undefined)
      .finally(() => {
        consumer.inFlight--;
        if (!settled && !closed) {
          settled = true;
          jobsBackingOff++;
          later(retryDelayMs(queued.attempt), () => {
            jobsBackingOff--;
            jobs.unshift({ value: queued.value, attempt: queued.attempt + 1 });
            dispatchJobs();
          });
        }
        dispatchJobs();
      });
  };

  const dispatchStatuses = () => {
    while (statuses.length > 0) {
      const consumer = pickRoundRobin(statusConsumers, nextStatusConsumer, (c) => !c.stopped && !c.busy);
      if (!consumer) return;
      nextStatusConsumer = statusConsumers.indexOf(consumer) + 1;
      deliverStatus(consumer, statuses.shift()!);
    }
  };

  const deliverStatus = (consumer: StatusConsumer, queued: Queued<StatusMessage>) => {
    consumer.busy = true;
    void Promise.resolve()
      .then(() => consumer.handler(structuredClone(queued.value)))
      .then(
        () => undefined,
        () => {
          if (closed) return;
          later(retryDelayMs(queued.attempt), () => {
            statuses.push({ value: queued.value, attempt: queued.attempt + 1 });
            dispatchStatuses();
          });
        },
      )
      .finally(() => {
        consumer.busy = false;
        dispatchStatuses();
      });
  };

  return {
    async publishJob(job) {
      ensureOpen();
      if (!seenJobs.add(attemptKey(job))) return;
      jobs.push({ value: structuredClone(job), attempt: 1 });
      queueMicrotask(dispatchJobs);
    },

    consumeJobs(handler, { concurrency, warm }) {
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
      const consumer: JobConsumer = { handler, concurrency, inFlight: 0, stopped: closed, warm };
      if (!closed) {
        jobConsumers.push(consumer);
        queueMicrotask(dispatchJobs);
      }
      return {
        stop: async () => {
          consumer.stopped = true;
          remove(jobConsumers, consumer);
        },
      };
    },

    async publishStatus(status) {
      ensureOpen();
      if (!seenStatuses.add(`${attemptKey(status)}:${status.type}`)) return;
      // A faulty watcher (an api request) must not fail the publisher (the worker).
      notifyAll(watchers.get(status.executionId) ?? [], (watch) => watch(structuredClone(status)));
      // One copy for the queue and the last-status map: both hand out copies of it, never it.
      const stored = structuredClone(status);
      statuses.push({ value: stored, attempt: 1 });
      lastStatuses.delete(status.executionId);
      lastStatuses.set(status.executionId, stored);
      // The oldest goes first: a Map iterates in insertion order.
      if (lastStatuses.size > LAST_STATUSES_KEPT) lastStatuses.delete(lastStatuses.keys().next().value!);
      queueMicrotask(dispatchStatuses);
    },

    async watchStatuses(executionId, handler): Promise<StatusWatch> {
      ensureOpen();
      // Its own function object, so the same handler watched twice is closed independently.
      const watch = (status: StatusMessage) => handler(status);
      const forExecution = watchers.get(executionId) ?? new Set();
      forExecution.add(watch);
      watchers.set(executionId, forExecution);
      return {
        close: async () => {
          forExecution.delete(watch);
          if (forExecution.size === 0 && watchers.get(executionId) === forExecution) watchers.delete(executionId);
        },
      };
    },

    consumeStatuses(handler): Consumer {
      const consumer: StatusConsumer = { handler, busy: false, stopped: closed };
      if (!closed) {
        statusConsumers.push(consumer);
        queueMicrotask(dispatchStatuses);
      }
      return {
        stop: async () => {
          consumer.stopped = true;
          remove(statusConsumers, consumer);
        },
      };
    },

    async announceFunctionRetired(functionId) {
      if (closed) return;
      notifyAll(retirementListeners, (listener) => listener(functionId));
    },

    watchFunctionRetirements(handler) {
      // Its own function object, so the same handler watched twice is stopped independently.
      const listener = (functionId: string) => handler(functionId);
      if (!closed) retirementListeners.add(listener);
      return {
        stop: async () => {
          retirementListeners.delete(listener);
        },
      };
    },

    async setWarmTarget(functionId, target) {
      ensureOpen();
      if (target === null) warmTargets.delete(functionId);
      else warmTargets.set(functionId, structuredClone(target));
      notifyAll(warmTargetListeners, (listener) => listener(functionId, structuredClone(target)));
    },

    watchWarmTargets(handler) {
      const listener = (functionId: string, target: WarmTarget | null) => handler(functionId, target);
      if (!closed) {
        warmTargetListeners.add(listener);
        // The targets as they are when this runs: a change made before it was heard already.
        queueMicrotask(() => {
          if (!warmTargetListeners.has(listener)) return;
          for (const [functionId, target] of warmTargets) notifyAll([listener], (only) => only(functionId, structuredClone(target)));
        });
      }
      return {
        stop: async () => {
          warmTargetListeners.delete(listener);
        },
      };
    },

    async listWarmTargets() {
      ensureOpen();
      return [...warmTargets.keys()];
    },

    async lastStatus(executionId) {
      ensureOpen();
      const status = lastStatuses.get(executionId);
      return status === undefined ? null : structuredClone(status);
    },

    async publishWorkerReport(report) {
      ensureOpen();
      workerReports.set(report.workerId, { report: structuredClone(report), storedAt: Date.now() });
    },

    async listWorkerReports() {
      ensureOpen();
      const now = Date.now();
      const kept: WorkerReport[] = [];
      for (const [workerId, { report, storedAt }] of workerReports) {
        if (now - storedAt >= workerReportsKeptMs) workerReports.delete(workerId);
        else kept.push(structuredClone(report));
      }
      return kept;
    },

    async pendingJobs() {
      return jobs.length + jobsBackingOff;
    },

    async close() {
      closed = true;
      for (const consumer of [...jobConsumers, ...statusConsumers]) consumer.stopped = true;
      jobConsumers.length = 0;
      statusConsumers.length = 0;
      watchers.clear();
      retirementListeners.clear();
      warmTargetListeners.clear();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/**
 * Calls each listener (from a copy of the set: one may stop watching meanwhile); a listener that
 * throws is its own watcher's fault, never the caller's.
 */
function notifyAll<L>(listeners: Iterable<L>, call: (listener: L) => void) {
  for (const listener of [...listeners]) {
    try {
      call(listener);
    } catch {}
  }
}

/** Ids seen within a time window; insertion order is time order, so expiry trims the front. */
class RecentIds {
  readonly #seenAt = new Map<string, number>();
  constructor(readonly windowMs: number) {}

  /** False when the id was already seen within the window. */
  add(id: string): boolean {
    const now = Date.now();
    for (const [seen, at] of this.#seenAt) {
      if (now - at < this.windowMs) break;
      this.#seenAt.delete(seen);
    }
    if (this.#seenAt.has(id)) return false;
    this.#seenAt.set(id, now);
    return true;
  }
}

function pickRoundRobin<T>(items: T[], start: number, usable: (item: T) => boolean): T | undefined {
  for (let i = 0; i < items.length; i++) {
    const item = items[(start + i) % items.length]!;
    if (usable(item)) return item;
  }
  return undefined;
}

function remove<T>(items: T[], item: T) {
  const index = items.indexOf(item);
  if (index >= 0) items.splice(index, 1);
}
