/**
 * The last hour of the api's own metrics, as points a chart can draw: executions per second and
 * each phase's count and quantiles per interval, and the gauges as they were. The figures are the
 * ones /metrics exports, read from the same registry through prom-client's API, so the operator
 * console and a Prometheus scraping this api tell the same story without Prometheus being there.
 */
import { TERMINAL_STATUSES, type TerminalStatus } from '../domain/execution-outcome.ts';
import type { Clock } from '../ports/clock.ts';
import { type CumulativeBucket, bucketIncrease, counterIncrease, histogramQuantile } from './histogram-quantile.ts';
import { type Metrics, PHASE_LABELS, type PhaseLabel, type PlatformGaugeMetrics } from './metrics.ts';

/** What the registry held at one moment: counters and buckets as exposed (totals since the start), gauges as they were. */
export type MetricsSample = {
  readonly at: Date;
  readonly executions: Readonly<Record<TerminalStatus, number>>;
  readonly phases: Readonly<Record<PhaseLabel, readonly CumulativeBucket[]>>;
  /** Null when the gauge could not be read (see measurePlatform). */
  readonly activeExecutions: { readonly queued: number; readonly running: number } | null;
  readonly jobsWaiting: number | null;
};

export type PhaseFigures = {
  /** Observations in the interval. */
  count: number;
  /** Null when the interval has none. */
  p50Ms: number | null;
  p95Ms: number | null;
};

export type HistoryPoint = {
  /** The end of the interval. */
  at: string;
  /** How long the interval was: the sampling interval, unless a sample came late. */
  seconds: number;
  executionsPerSecond: number;
  byOutcome: Record<TerminalStatus, number>;
  phases: Record<PhaseLabel, PhaseFigures>;
  activeExecutions: { queued: number; running: number } | null;
  jobsWaiting: number | null;
};

const HOUR_MS = 3_600_000;
/** An hour at one point a second: a shorter interval (tests) keeps less than the hour. */
const MOST_POINTS = 3_600;

/**
 * The interval from `previous` to `current` as a point. Rates are divided by the time the clock
 * says passed, not the nominal interval: a sample skipped because the one before was still
 * reading the bus would otherwise double the rate of the next. A clock that did not move (or
 * stepped back) gives nothing to divide by, and the nominal interval is the best guess.
 */
export function pointBetween(previous: MetricsSample, current: MetricsSample, nominalSeconds: number): HistoryPoint {
  const elapsed = (current.at.getTime() - previous.at.getTime()) / 1000;
  const seconds = elapsed > 0 ? elapsed : nominalSeconds;
  const ended = TERMINAL_STATUSES.map((outcome) => [outcome, counterIncrease(previous.executions[outcome], current.executions[outcome])] as const);
  const byOutcome = Object.fromEntries(ended.map(([outcome, count]) => [outcome, count / seconds])) as Record<TerminalStatus, number>;
  const phases = Object.fromEntries(
    PHASE_LABELS.map((phase) => [phase, phaseFigures(bucketIncrease(previous.phases[phase], current.phases[phase]))]),
  ) as Record<PhaseLabel, PhaseFigures>;
  return {
    at: current.at.toISOString(),
    seconds,
    // Counts summed before dividing: the total has no rounding of its own beyond byOutcome's.
    executionsPerSecond: ended.reduce((sum, [, count]) => sum + count, 0) / seconds,
    byOutcome,
    phases,
    activeExecutions: current.activeExecutions,
    jobsWaiting: current.jobsWaiting,
  };
}

function phaseFigures(increase: readonly CumulativeBucket[]): PhaseFigures {
  const inMs = (q: number) => {
    const seconds = histogramQuantile(q, increase);
    // Microseconds are below any bucket's precision; the rest is floating-point noise.
    return seconds === null ? null : Math.round(seconds * 1e6) / 1e3;
  };
  return { count: increase.at(-1)?.count ?? 0, p50Ms: inMs(0.5), p95Ms: inMs(0.95) };
}

/** One labelled value of a metric, as prom-client's `get()` gives it. */
type Reading = { value: number; labels: Record<string, string | number | undefined> };

/** Reads the sample from the metric objects themselves (what /metrics would print now). */
async function readSample(metrics: Metrics, gauges: PlatformGaugeMetrics, at: Date): Promise<MetricsSample> {
  const [executions, phases, active, waiting] = await Promise.all([
    metrics.executions.get(),
    metrics.executionPhaseSeconds.get(),
    // A gauge that cannot be read (the bus down) must not cost the interval its rates.
    gauges.activeExecutions.get().catch(() => undefined),
    gauges.jobsWaiting.get().catch(() => undefined),
  ]);
  const valueOf = (values: readonly Reading[] | undefined, labels: Record<string, string>) => {
    const found = values?.find((each) => Object.entries(labels).every(([name, value]) => each.labels[name] === value))?.value;
    return found === undefined || Number.isNaN(found) ? null : found;
  };
  // prom-client's types leave out the `le` it adds to each bucket's labels.
  const bucketValues = phases.values.map(({ labels, value }) => ({ labels: labels as { phase?: string; le?: string | number }, value }));
  const bucketsOf = (phase: PhaseLabel): CumulativeBucket[] =>
    bucketValues
      .filter(({ labels }) => labels.phase === phase && labels.le !== undefined)
      .map(({ labels, value }) => ({ le: labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le), count: value }));
  const queued = valueOf(active?.values, { status: 'queued' });
  const running = valueOf(active?.values, { status: 'running' });
  return {
    at,
    executions: Object.fromEntries(TERMINAL_STATUSES.map((outcome) => [outcome, valueOf(executions.values, { outcome }) ?? 0])) as Record<TerminalStatus, number>,
    phases: Object.fromEntries(PHASE_LABELS.map((phase) => [phase, bucketsOf(phase)])) as Record<PhaseLabel, CumulativeBucket[]>,
    activeExecutions: queued === null || running === null ? null : { queued, running },
    jobsWaiting: valueOf(waiting?.values, {}),
  };
}

export type MetricsHistory = {
  readonly intervalSeconds: number;
  /**
   * Reads the registry and keeps the interval since the last sample as a point (answered); the
   * first sample only sets where the first interval starts. Samples take turns.
   */
  sample(): Promise<HistoryPoint | undefined>;
  /** The points kept that end after `from`, oldest first. */
  since(from: Date): HistoryPoint[];
};

export function createMetricsHistory(source: { metrics: Metrics; gauges: PlatformGaugeMetrics; clock: Clock }, intervalMs: number): MetricsHistory {
  const intervalSeconds = intervalMs / 1000;
  const points: HistoryPoint[] = [];
  let last: MetricsSample | undefined;
  let turn: Promise<unknown> = Promise.resolve();

  const take = async () => {
    const current = await readSample(source.metrics, source.gauges, source.clock.now());
    const previous = last;
    last = current;
    if (previous === undefined) return undefined;
    const point = pointBetween(previous, current, intervalSeconds);
    points.push(point);
    const oldest = current.at.getTime() - HOUR_MS;
    while (points.length > MOST_POINTS || (points.length > 0 && Date.parse(points[0]!.at) <= oldest)) points.shift();
    return point;
  };

  return {
    intervalSeconds,
    sample() {
      const taken = turn.then(take, take);
      turn = taken;
      return taken;
    },
    since(from) {
      return points.filter((point) => Date.parse(point.at) > from.getTime());
    },
  };
}
