/**
 * Waiting with a bound: the worker's drain, the grace after a kill, the last output, a ping; the
 * NATS bus's flush and drain. Web-standard timers only, so the api may use it on any runtime.
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

/** `promise`, or a rejection when it has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
