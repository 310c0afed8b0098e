/**
 * Quantiles and increases from Prometheus series, computed the way Prometheus computes them, so
 * that a chart drawn from the api's own history and one drawn by Prometheus from /metrics agree
 * (promql/quantile.go `BucketQuantile`, and `increase`'s reset rule).
 */

/** One bucket of a histogram as exposed: the observations at most `le` (cumulative); the last bucket's `le` is Infinity. */
export type CumulativeBucket = { readonly le: number; readonly count: number };

/**
 * The `q` quantile (0 < q ≤ 1) of the observations the buckets hold, or null with none. Within
 * a bucket the observations are taken as spread evenly, so the answer is an interpolation, never
 * more precise than the bucket's bounds: the first bucket starts at 0, and a rank that falls in
 * the +Inf bucket is answered with the highest finite bound (there is nothing to interpolate to).
 */
export function histogramQuantile(q: number, buckets: readonly CumulativeBucket[]): number | null {
  if (!(q > 0 && q <= 1)) throw new RangeError(`a quantile is in (0, 1], not ${q}`);
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  if (sorted.length < 2 || sorted.at(-1)!.le !== Number.POSITIVE_INFINITY) return null;
  // Buckets read at slightly different moments (or summed across sources) may dip: Prometheus
  // takes the running maximum rather than interpolate over a negative count.
  let highest = 0;
  const counts = sorted.map(({ count }) => (highest = Math.max(highest, count)));
  const observations = counts.at(-1)!;
  if (observations === 0) return null;
  const rank = q * observations;
  const finite = sorted.length - 1;
  const b = counts.findIndex((count, index) => index < finite && count >= rank);
  if (b === -1) return sorted[finite - 1]!.le;
  const end = sorted[b]!.le;
  if (b === 0 && end <= 0) return end;
  const start = b === 0 ? 0 : sorted[b - 1]!.le;
  const below = b === 0 ? 0 : counts[b - 1]!;
  return start + (end - start) * ((rank - below) / (counts[b]! - below));
}

/**
 * What a counter gained from `previous` to `current`. A counter only goes down when its process
 * restarted (or its registry was reset): it counted `current` since, as Prometheus' `increase`
 * takes it, never a negative gain.
 */
export const counterIncrease = (previous: number, current: number): number => (current < previous ? current : current - previous);

/**
 * What each bucket of a histogram gained from `previous` to `current`, still cumulative. A
 * histogram resets as a whole, so one bucket (or the total) gone down means everything in
 * `current` came after the reset.
 */
export function bucketIncrease(previous: readonly CumulativeBucket[], current: readonly CumulativeBucket[]): CumulativeBucket[] {
  const before = new Map(previous.map(({ le, count }) => [le, count]));
  const reset = current.some(({ le, count }) => count < (before.get(le) ?? 0));
  return current.map(({ le, count }) => ({ le, count: reset ? count : count - (before.get(le) ?? 0) }));
}
