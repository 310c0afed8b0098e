import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export type LoginThrottle = {
  /** Seconds until a login for this account from this address may be tried, or 0 when it may now. */
  retryAfter(email: string, address: string): Promise<number>;
  recordFailure(email: string, address: string): Promise<void>;
  recordSuccess(email: string, address: string): Promise<void>;
};

/**
 * Three limits, after OWASP's guidance on brute force:
 * - one account from one address: a few tries, then a short block, so a typo costs little;
 * - one account from all addresses: a bounded block, so a distributed guess is slowed, but an
 *   attacker elsewhere can hold the account for minutes, never for ever;
 * - one address over all accounts: stops one source from spraying passwords.
 * Counters live in the api process; several api instances each enforce their own.
 */
export function createLoginThrottle(): LoginThrottle {
  const byAccountAndAddress = new RateLimiterMemory({ keyPrefix: 'aa', points: 5, duration: 15 * 60, blockDuration: 60 });
  const byAccount = new RateLimiterMemory({ keyPrefix: 'a', points: 50, duration: 15 * 60, blockDuration: 5 * 60 });
  const byAddress = new RateLimiterMemory({ keyPrefix: 'd', points: 100, duration: 60 * 60, blockDuration: 60 * 60 });
  const limits = (email: string, address: string) =>
    [
      [byAccountAndAddress, `${email}\n${address}`],
      [byAccount, email],
      [byAddress, address],
    ] as const;

  return {
    async retryAfter(email, address) {
      let waitMs = 0;
      for (const [limiter, key] of limits(email, address)) {
        const state = await limiter.get(key);
        if (state && state.consumedPoints > limiter.points) waitMs = Math.max(waitMs, state.msBeforeNext);
      }
      return Math.ceil(waitMs / 1000);
    },
    async recordFailure(email, address) {
      for (const [limiter, key] of limits(email, address)) {
        // consume() rejects once the limit is passed; that is the state retryAfter reads.
        await limiter.consume(key).catch((reason: unknown) => {
          if (!(reason instanceof RateLimiterRes)) throw reason;
        });
      }
    },
    async recordSuccess(email, address) {
      await byAccountAndAddress.delete(`${email}\n${address}`);
    },
  };
}
