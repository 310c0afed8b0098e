import type { MetricsHistory } from '../metrics/metrics-history.ts';
import { type Logger, describeError } from '../ports/logger.ts';
import { type RunningProcess, runEvery } from './process.ts';

/** Often enough for a chart of the last hour (360 points), rarely enough to cost nothing. */
export const METRICS_SAMPLE_INTERVAL_MS = 10_000;

type Deps = { metricsHistory: MetricsHistory; log: Logger };

/**
 * Samples the api's registry into its metrics history (src/metrics/metrics-history.ts) at the
 * history's interval, for GET /v1/admin/metrics/history. In memory and per api: a restart starts
 * an empty hour, which is the price of charts that need no Prometheus.
 */
export function startMetricsSampler(deps: Deps): RunningProcess {
  const failed = (error: unknown) => deps.log('warn', 'metrics sample failed', describeError(error));
  // The first interval starts now rather than at the first tick: the chart's first point comes one interval sooner.
  const baseline = deps.metricsHistory.sample().catch(failed);
  const loop = runEvery(deps.metricsHistory.intervalSeconds * 1000, () => deps.metricsHistory.sample(), failed);
  return {
    async stop() {
      await loop.stop();
      await baseline;
    },
  };
}
