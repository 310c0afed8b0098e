/**
 * Waiting with a bound, as the worker needs it in several places (the drain, the grace after a
 * kill, the last output, a ping). Web-standard timers only, so the api may use it on any runtime.
 */

/** setTimeout fires at once for a delay past 2^31-1 ms (about 24.8 days): the longest it honours. */
export const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits for `promise` to settle (its value and its failure are ignored), but no longer than `ms`:
 * true when it settled in time. A bound past the longest timer (`Infinity`: none) waits as long
 * as it takes, rather than not at all.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(settledInTime, settledInTime);
  if (ms > LONGEST_TIMER_MS) return settled;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([settled, elapsed]);
  } finally {
    clearTimeout(timer);
  }
}

const settledInTime = () => true as const;
