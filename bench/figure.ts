/**
 * What every benchmark reports: a figure measured side by side with its baseline in the same run,
 * so the ratio says what the layer costs on this machine, whatever the machine.
 */
export type Figure = {
  /** e.g. `cold-execution-overhead`, `concurrency-8`, `sqlite-append`. */
  name: string;
  /** Of `median` and `p95`: `ms`, `executions/s`, `requests/s`, `events/s`… */
  unit: string;
  median: number;
  p95: number;
  /** What it is compared with, e.g. `bare dockerode`, `bare hono (node)`, or a target. */
  baseline: string;
  baselineMedian: number;
  /** median / baselineMedian for times; for rates the same (higher is better): the unit says which. */
  ratio: number;
  /** Anything a reader needs to interpret it: phase breakdown, peak memory, sample count. */
  notes?: Record<string, unknown>;
};

export type BenchOptions = {
  /** `npm run bench -- --quick`: fewer samples, the whole run under 2 minutes. */
  quick: boolean;
};

/** The nearest-rank percentile: a value that was measured, never an interpolation. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const median = (samples: readonly number[]) => percentile(samples, 50);

/** A figure from the samples of the measured path and of its baseline, taken in alternation. */
export function compare(
  name: string,
  unit: string,
  samples: readonly number[],
  baseline: { name: string; samples: readonly number[] },
  notes?: Record<string, unknown>,
): Figure {
  const measured = median(samples);
  const base = median(baseline.samples);
  return {
    name,
    unit,
    median: round(measured),
    p95: round(percentile(samples, 95)),
    baseline: baseline.name,
    baselineMedian: round(base),
    ratio: Math.round((measured / base) * 1000) / 1000,
    ...(notes ? { notes } : {}),
  };
}

const round = (value: number) => Math.round(value * 100) / 100;

/**
 * `loops` loops calling `work` back to back for `seconds`, all at once: calls per second in each
 * window of `windowMs` (a call counts when `work` says so: a failed one need not).
 */
export async function concurrentRate(
  seconds: number,
  loops: number,
  windowMs: number,
  work: (loop: number, i: number) => Promise<boolean>,
): Promise<number[]> {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const running = Array.from({ length: loops }, async (_, loop) => {
    for (let i = 0; performance.now() < end; i++) if (await work(loop, i)) done++;
  });
  const rates: number[] = [];
  let windowStart = performance.now();
  while (performance.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const now = performance.now();
    rates.push((done * 1000) / (now - windowStart));
    windowStart = now;
    done = 0;
  }
  await Promise.all(running);
  return rates;
}
