/**
 * Every metric Faasbox exposes, in one place: names, labels and help text. Each process builds
 * one `Metrics` at start (its own prom-client Registry, never the global default one, so tests
 * and several platforms in one process do not collide) and passes it down.
 *
 * Labels are bounded: HTTP requests by route pattern (`/v1/functions/:id`, never the path with
 * its ids), executions by outcome, phases by name.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TERMINAL_STATUSES } from '../domain/execution-outcome.ts';
import type { ExecutionPhase, PhaseDurations } from '../ports/job-bus.ts';

export type Metrics = {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpRequestSeconds: Histogram<'method' | 'route' | 'status'>;
  /** Counted by the api, once per execution, when its outcome is appended to its stream. */
  readonly executions: Counter<'outcome'>;
  /** Attempts scheduled after a failed one, and executions put on a dead-letter list: once each, when appended. */
  readonly retriesScheduled: Counter;
  readonly deadLettered: Counter;
  /** Callback attempts as recorded, once each: delivered, failed (another follows), abandoned (none will). */
  readonly callbacks: Counter<'outcome'>;
  /** The worker's phase durations as the api heard them in final statuses: every worker's, once. */
  readonly executionPhaseSeconds: Histogram<'phase'>;
  /** The same phases as this process's own worker measured them. */
  readonly workerPhaseSeconds: Histogram<'phase'>;
  readonly imagesPruned: Counter;
  readonly imageBytesReclaimed: Counter;
};

/** Phase label values, in Prometheus' snake case. */
const PHASE_LABEL = {
  queueWait: 'queue_wait',
  pull: 'pull',
  createStart: 'create_start',
  take: 'take',
  run: 'run',
  remove: 'remove',
} as const satisfies Record<ExecutionPhase, string>;

export type PhaseLabel = (typeof PHASE_LABEL)[ExecutionPhase];
/** In the order an execution goes through them. */
export const PHASE_LABELS: readonly PhaseLabel[] = Object.values(PHASE_LABEL);

/** From a few ms (a cached image, a quick function) to the longest timeout allowed by default. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) {
    // Process and runtime metrics (CPU, memory, event loop lag, open fds). Bun and Deno provide
    // what they read today; should a runtime lack one, the platform's own metrics still count.
    try {
      collectDefaultMetrics({ register: registry });
    } catch {}
  }

  const httpLabels = ['method', 'route', 'status'] as const;
  const metrics: Metrics = {
    registry,
    httpRequests: new Counter({
      name: 'faasbox_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern (unmatched: no route) and status.',
      labelNames: httpLabels,
      registers,
    }),
    httpRequestSeconds: new Histogram({
      name: 'faasbox_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method, route pattern and status. A waiting execution is answered when it ends.',
      labelNames: httpLabels,
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    executions: new Counter({
      name: 'faasbox_executions_total',
      help: 'Executions ended, by outcome, counted when the outcome is recorded (a late result after a timeout is not an outcome).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    retriesScheduled: new Counter({
      name: 'faasbox_execution_retries_total',
      help: "Further attempts scheduled for asynchronous executions after a failed one (the function's retry policy).",
      registers,
    }),
    deadLettered: new Counter({
      name: 'faasbox_dead_letters_total',
      help: 'Asynchronous executions that ended without success after their last attempt and went on a dead-letter list.',
      registers,
    }),
    callbacks: new Counter({
      name: 'faasbox_callbacks_total',
      help: 'Callback attempts of asynchronous executions, by outcome: delivered, failed (retried later) or abandoned (no more attempts: out of attempts or time, a host no longer allowed, its owner deleted).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    executionPhaseSeconds: new Histogram({
      name: 'faasbox_execution_phase_duration_seconds',
      help: 'Time executions spent in each phase on their worker (queue_wait, pull, create_start, run, remove), as reported to the api.',
      labelNames: ['phase'] as const,
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    workerPhaseSeconds: new Histogram({
      name: 'faasbox_worker_phase_duration_seconds',
      help: "Time this process's worker spent in each phase of an execution (queue_wait, pull, create_start, run, remove).",
      labelNames: ['phase'] as const,
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    imagesPruned: new Counter({
      name: 'faasbox_images_pruned_total',
      help: "Unused images this process's worker removed to free disk space.",
      registers,
    }),
    imageBytesReclaimed: new Counter({
      name: 'faasbox_images_pruned_bytes_total',
      help: 'Sizes of the pruned images as the engine reports them (an upper bound: a layer shared with a kept image is not freed).',
      registers,
    }),
  };
  // Every series exists from the start: a rate over a series that appears late misses its first samples.
  for (const outcome of TERMINAL_STATUSES) metrics.executions.inc({ outcome }, 0);
  for (const outcome of ['delivered', 'failed', 'abandoned']) metrics.callbacks.inc({ outcome }, 0);
  for (const phase of PHASE_LABELS) {
    metrics.executionPhaseSeconds.zero({ phase });
    metrics.workerPhaseSeconds.zero({ phase });
  }
  return metrics;
}

export const observePhase = (histogram: Histogram<'phase'>, phase: ExecutionPhase, ms: number) =>
  histogram.observe({ phase: PHASE_LABEL[phase] }, ms / 1000);

export function observePhases(histogram: Histogram<'phase'>, phases: PhaseDurations) {
  // A status is data from another process (perhaps another release): only a known phase with a
  // real duration counts, and nothing in it may fail the recording it rides on.
  if (typeof phases !== 'object' || phases === null) return;
  for (const [phase, ms] of Object.entries(phases) as [ExecutionPhase, unknown][]) {
    if (Object.hasOwn(PHASE_LABEL, phase) && typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) observePhase(histogram, phase, ms);
  }
}

/** What the api side reads at each scrape. */
export type PlatformGauges = {
  /** Queued and running executions, from the executions read model. */
  activeExecutions(): { queued: number; running: number };
  /** Jobs published and not yet taken by a worker. */
  jobsWaiting(): Promise<number>;
  /** How far the read models are behind the store's head (see ProjectionRunner.lag). */
  projectionLag(): Promise<number>;
};

/** The api's gauges whose values the metrics history keeps (src/metrics/metrics-history.ts). */
export type PlatformGaugeMetrics = {
  readonly activeExecutions: Gauge<'status'>;
  readonly jobsWaiting: Gauge;
};

/**
 * Registers the api's gauges, read when Prometheus scrapes (a gauge that cannot be read, the
 * bus being down, reports NaN rather than a stale value). Once per registry.
 */
export function measurePlatform(metrics: Metrics, read: PlatformGauges): PlatformGaugeMetrics {
  const registers = [metrics.registry];
  const activeExecutions = new Gauge({
    name: 'faasbox_active_executions',
    help: 'Executions queued or running now, by status (from the read models).',
    labelNames: ['status'] as const,
    registers,
    collect() {
      const { queued, running } = read.activeExecutions();
      this.set({ status: 'queued' }, queued);
      this.set({ status: 'running' }, running);
    },
  });
  const jobsWaiting = new Gauge({
    name: 'faasbox_jobs_waiting',
    help: 'Jobs published and not yet taken by a worker (NATS: released jobs not counted).',
    registers,
    async collect() {
      this.set(await read.jobsWaiting().catch(() => Number.NaN));
    },
  });
  new Gauge({
    name: 'faasbox_projection_lag',
    help: "The store's head position minus the read models' committed position: events behind on SQLite, bytes of log behind on EventStoreDB; 0 when caught up.",
    registers,
    async collect() {
      this.set(await read.projectionLag().catch(() => Number.NaN));
    },
  });
  return { activeExecutions, jobsWaiting };
}

/** Registers the worker's own gauge. Once per registry. */
export function measureWorker(metrics: Metrics, read: { inFlight(): number }) {
  new Gauge({
    name: 'faasbox_worker_executions_in_flight',
    help: "Executions this process's worker holds now, from taking the job to publishing its final status.",
    registers: [metrics.registry],
    collect() {
      this.set(read.inFlight());
    },
  });
}

/** The worker's pre-started containers: how many wait (ready) or are being started, and how often an execution found one. */
export function measurePrestartPool(metrics: Metrics, read: () => { ready: number; starting: number; hits: number; misses: number }) {
  new Gauge({
    name: 'faasbox_prestarted_containers',
    help: 'Pre-started containers held by this worker, by state: ready (waiting for an execution) or starting.',
    labelNames: ['state'],
    registers: [metrics.registry],
    collect() {
      const counts = read();
      this.set({ state: 'ready' }, counts.ready);
      this.set({ state: 'starting' }, counts.starting);
    },
  });
  new Counter({
    name: 'faasbox_prestarted_takes_total',
    help: 'Executions that looked for a pre-started container: hit (one was ready) or miss (a cold start).',
    labelNames: ['result'],
    registers: [metrics.registry],
    collect() {
      const counts = read();
      // A counter read from the pool's own totals, which only grow.
      this.reset();
      this.inc({ result: 'hit' }, counts.hits);
      this.inc({ result: 'miss' }, counts.misses);
    },
  });
}

export function measureReusePool(metrics: Metrics, read: () => { idle: number; busy: number }) {
  new Gauge({
    name: 'faasbox_reused_containers',
    help: 'Containers kept by this worker for functions that reuse them, by state: idle (clean, waiting) or busy (running an execution, or being cleaned after one).',
    labelNames: ['state'],
    registers: [metrics.registry],
    collect() {
      const counts = read();
      this.set({ state: 'idle' }, counts.idle);
      this.set({ state: 'busy' }, counts.busy);
    },
  });
}
