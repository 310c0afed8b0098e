/**
 * The arithmetic of the metrics history (src/metrics/histogram-quantile.ts,
 * src/metrics/metrics-history.ts): quantiles as Prometheus' histogram_quantile computes them,
 * increases that survive a counter reset, points per interval, and the hour the ring keeps,
 * over a real prom-client registry.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type CumulativeBucket, bucketIncrease, counterIncrease, histogramQuantile } from '../src/metrics/histogram-quantile.ts';
import { type MetricsSample, createMetricsHistory, pointBetween } from '../src/metrics/metrics-history.ts';
import { PHASE_LABELS, type PhaseLabel, createMetrics, measurePlatform, observePhase } from '../src/metrics/metrics.ts';
import { fixedClock } from './support/in-process-app.ts';

const history = suite('metrics history');

const INF = Number.POSITIVE_INFINITY;
/** Cumulative buckets from upper bounds and counts, the +Inf bucket last. */
const buckets = (...pairs: [number, number][]): CumulativeBucket[] => pairs.map(([le, count]) => ({ le, count }));

history('quantiles are interpolated within their bucket, from 0 for the first, as histogram_quantile does', () => {
  // Bounds that binary fractions hold exactly, so the answers compare exactly too.
  const ten = buckets([0.25, 10], [0.5, 20], [INF, 20]);
  assert.is(histogramQuantile(0.5, ten), 0.25, 'rank 10 is the top of the first bucket');
  assert.is(histogramQuantile(0.75, ten), 0.375, 'rank 15: halfway through (0.25, 0.5]');
  assert.is(histogramQuantile(0.25, ten), 0.125, 'rank 5: halfway through (0, 0.25]');
  assert.is(histogramQuantile(1, ten), 0.5);
  // Unsorted input is sorted first.
  assert.is(histogramQuantile(0.75, [...ten].reverse()), 0.375);
});

history('a rank in the +Inf bucket answers the highest finite bound; no observations, or no +Inf bucket, answer nothing', () => {
  assert.is(histogramQuantile(0.95, buckets([1, 1], [2, 1], [INF, 10])), 2);
  assert.is(histogramQuantile(0.5, buckets([1, 0], [INF, 0])), null, 'an empty interval');
  assert.is(histogramQuantile(0.5, buckets([1, 3], [2, 5])), null, 'no +Inf bucket');
  assert.is(histogramQuantile(0.5, buckets([INF, 5])), null, 'one bucket has nothing to interpolate');
  assert.is(histogramQuantile(0.5, []), null);
  assert.throws(() => histogramQuantile(0, buckets([1, 1], [INF, 1])), RangeError);
  assert.throws(() => histogramQuantile(1.5, buckets([1, 1], [INF, 1])), RangeError);
});

history('a bucket that dips below the one before counts as that one (the running maximum), never negative', () => {
  // (0.25, 0.5] would hold -2: taken as empty, rank 6.5 of 8 lands in (0.5, 1] (without the fix: at 0.8125).
  const dipping = buckets([0.25, 6], [0.5, 4], [1, 8], [INF, 8]);
  assert.is(histogramQuantile(0.8125, dipping), 0.625);
  assert.is(histogramQuantile(0.75, dipping), 0.25);
});

history('a counter that went down restarted: it gained what it holds now, never a negative', () => {
  assert.is(counterIncrease(5, 8), 3);
  assert.is(counterIncrease(5, 5), 0);
  assert.is(counterIncrease(5, 2), 2);
  assert.is(counterIncrease(5, 0), 0);
});

history('buckets gain bucket by bucket; one gone down means the whole histogram restarted', () => {
  const before = buckets([0.1, 2], [1, 5], [INF, 6]);
  assert.equal(bucketIncrease(before, buckets([0.1, 3], [1, 7], [INF, 9])), buckets([0.1, 1], [1, 2], [INF, 3]));
  assert.equal(bucketIncrease(before, buckets([0.1, 1], [1, 1], [INF, 1])), buckets([0.1, 1], [1, 1], [INF, 1]), 'reset');
  assert.equal(bucketIncrease(before, buckets([0.1, 2], [1, 6], [INF, 5])), buckets([0.1, 2], [1, 6], [INF, 5]), 'the total went down');
  assert.equal(bucketIncrease([], buckets([1, 1], [INF, 2])), buckets([1, 1], [INF, 2]), 'no previous sample of a series: from zero');
});

/** A sample with the given cumulative figures; every other phase empty. */
const sampleAt = (
  seconds: number,
  executions: MetricsSample['executions'],
  phases: Partial<Record<PhaseLabel, readonly CumulativeBucket[]>> = {},
): MetricsSample => ({
  at: new Date(Date.UTC(2030, 0, 1, 12, 0, seconds)),
  executions,
  phases: Object.fromEntries(PHASE_LABELS.map((phase) => [phase, phases[phase] ?? buckets([1, 0], [INF, 0])])) as Record<PhaseLabel, CumulativeBucket[]>,
  activeExecutions: { queued: 1, running: 2 },
  jobsWaiting: 3,
});

history('a point: executions per second by outcome over the time that passed, and each phase over the interval', () => {
  const previous = sampleAt(0, { succeeded: 10, failed: 2, timedOut: 0 }, { run: buckets([0.01, 4], [0.1, 4], [INF, 4]) });
  const current = sampleAt(10, { succeeded: 30, failed: 7, timedOut: 1 }, { run: buckets([0.01, 4], [0.1, 14], [INF, 14]) });
  const point = pointBetween(previous, current, 10);
  assert.is(point.at, '2030-01-01T12:00:10.000Z');
  assert.is(point.seconds, 10);
  assert.equal(point.byOutcome, { succeeded: 2, failed: 0.5, timedOut: 0.1 });
  assert.is(point.executionsPerSecond, 2.6);
  assert.equal(point.phases.run, { count: 10, p50Ms: 55, p95Ms: 95.5 }, 'only the interval: (0.01, 0.1], not the four before');
  assert.equal(point.phases.pull, { count: 0, p50Ms: null, p95Ms: null }, 'an empty interval has no quantiles');
  assert.equal([point.activeExecutions, point.jobsWaiting], [{ queued: 1, running: 2 }, 3], 'gauges as they were at the end');
});

history('an empty interval is all zeros; a restart in between counts from zero, never negative', () => {
  const previous = sampleAt(0, { succeeded: 10, failed: 2, timedOut: 1 }, { run: buckets([0.01, 4], [INF, 6]) });
  const quiet = pointBetween(previous, sampleAt(10, previous.executions, previous.phases), 10);
  assert.equal([quiet.executionsPerSecond, quiet.byOutcome, quiet.phases.run], [0, { succeeded: 0, failed: 0, timedOut: 0 }, { count: 0, p50Ms: null, p95Ms: null }]);

  const restarted = pointBetween(previous, sampleAt(10, { succeeded: 3, failed: 0, timedOut: 1 }, { run: buckets([0.01, 2], [INF, 2]) }), 10);
  assert.equal(restarted.byOutcome, { succeeded: 0.3, failed: 0, timedOut: 0 });
  assert.is(restarted.executionsPerSecond, 0.3);
  assert.equal(restarted.phases.run, { count: 2, p50Ms: 5, p95Ms: 9.5 });
});

history('rates are over the time that passed: a late sample divides by more; a clock that did not move, by the interval', () => {
  const previous = sampleAt(0, { succeeded: 0, failed: 0, timedOut: 0 });
  const late = pointBetween(previous, sampleAt(20, { succeeded: 10, failed: 0, timedOut: 0 }), 10);
  assert.equal([late.seconds, late.executionsPerSecond], [20, 0.5]);
  const still = pointBetween(previous, sampleAt(0, { succeeded: 10, failed: 0, timedOut: 0 }), 10);
  assert.equal([still.seconds, still.executionsPerSecond], [10, 1]);
});

/** A registry with the api's gauges, as src/api.ts builds it, and a history over it. */
function sampled(intervalMs = 10_000, read: Partial<Parameters<typeof measurePlatform>[1]> = {}) {
  const metrics = createMetrics({ defaultMetrics: false });
  const gauges = measurePlatform(metrics, {
    activeExecutions: () => ({ queued: 4, running: 2 }),
    jobsWaiting: async () => 3,
    projectionLag: async () => 0,
    ...read,
  });
  const clock = fixedClock(new Date('2030-01-01T12:00:00Z'));
  return { metrics, clock, history: createMetricsHistory({ metrics, gauges, clock }, intervalMs) };
}

history('over a real registry: the first sample is where the first interval starts, then a point per sample', async () => {
  const { metrics, clock, history: ring } = sampled();
  assert.is(ring.intervalSeconds, 10);
  assert.is(await ring.sample(), undefined);
  metrics.executions.inc({ outcome: 'succeeded' }, 20);
  metrics.executions.inc({ outcome: 'timedOut' });
  for (let n = 0; n < 10; n++) observePhase(metrics.executionPhaseSeconds, 'run', 7);
  observePhase(metrics.executionPhaseSeconds, 'queueWait', 40);
  clock.advance(10_000);
  const point = await ring.sample();
  assert.equal(point, {
    at: '2030-01-01T12:00:10.000Z',
    seconds: 10,
    executionsPerSecond: 2.1,
    byOutcome: { succeeded: 2, failed: 0, timedOut: 0.1 },
    phases: {
      queue_wait: { count: 1, p50Ms: 37.5, p95Ms: 48.75 },
      pull: { count: 0, p50Ms: null, p95Ms: null },
      create_start: { count: 0, p50Ms: null, p95Ms: null },
      take: { count: 0, p50Ms: null, p95Ms: null },
      run: { count: 10, p50Ms: 7.5, p95Ms: 9.75 },
      remove: { count: 0, p50Ms: null, p95Ms: null },
    },
    activeExecutions: { queued: 4, running: 2 },
    jobsWaiting: 3,
  });
  clock.advance(10_000);
  const quiet = await ring.sample();
  assert.equal([quiet?.executionsPerSecond, quiet?.phases.run.count], [0, 0]);
  assert.equal(ring.since(new Date(0)).map((each) => each.at), ['2030-01-01T12:00:10.000Z', '2030-01-01T12:00:20.000Z']);
  assert.equal(ring.since(new Date('2030-01-01T12:00:10Z')).map((each) => each.at), ['2030-01-01T12:00:20.000Z']);
});

history('samples asked for at once take turns: each interval is counted once', async () => {
  const { metrics, clock, history: ring } = sampled();
  await ring.sample();
  metrics.executions.inc({ outcome: 'failed' }, 5);
  clock.advance(10_000);
  const [first, second] = await Promise.all([ring.sample(), ring.sample()]);
  assert.equal([first?.byOutcome.failed, second?.byOutcome.failed], [0.5, 0]);
});

history('the ring keeps the last hour', async () => {
  const { clock, history: ring } = sampled(600_000);
  await ring.sample();
  for (let n = 0; n < 8; n++) {
    clock.advance(600_000);
    await ring.sample();
  }
  const kept = ring.since(new Date(0));
  assert.is(kept.length, 6, 'ten-minute points of one hour');
  assert.is(kept.at(-1)!.at, '2030-01-01T13:20:00.000Z');
  assert.is(kept[0]!.at, '2030-01-01T12:30:00.000Z');
});

history('a gauge that cannot be read is null in its point, and the rates are there all the same', async () => {
  const { metrics, clock, history: ring } = sampled(10_000, {
    activeExecutions: () => {
      throw new Error('the read model is closed');
    },
    jobsWaiting: () => Promise.reject(new Error('NATS did not answer')),
  });
  await ring.sample();
  metrics.executions.inc({ outcome: 'succeeded' }, 10);
  clock.advance(10_000);
  const point = await ring.sample();
  assert.equal([point?.executionsPerSecond, point?.activeExecutions, point?.jobsWaiting], [1, null, null]);
});

history.run();
