import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';

/**
 * An Idempotency-Key names one execution for a day: one stream per user and key makes the
 * first request's claim a conditional append, so of two requests with the same key at once,
 * in one api process or several, exactly one claims it and both answer with its execution.
 */
export type IdempotencyKeyClaim = {
  executionId: string;
  functionId: string;
  /** SHA-256 of the function id and the request body, hex: a reuse of the key for another request is refused. */
  requestDigest: string;
  claimedAt: string;
};

export type IdempotencyKeyEvent = DomainEvent<'IdempotencyKeyClaimed', IdempotencyKeyClaim>;

export type IdempotencyKeyState = { claim: IdempotencyKeyClaim | null };

export type IdempotencyKeyCommand = { type: 'ClaimIdempotencyKey'; claim: Omit<IdempotencyKeyClaim, 'claimedAt'>; now: Date };

/** How long a key names its execution: after it, the same key starts a new one. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 60 * 60 * 1000;

export const idempotencyKeyDecider: Decider<IdempotencyKeyCommand, IdempotencyKeyEvent, IdempotencyKeyState> = {
  initialState: () => ({ claim: null }),
  evolve: (_state, event) => ({ claim: event.data }),
  decide: (command, state) => {
    const { claim } = state;
    const live = claim !== null && command.now.getTime() - Date.parse(claim.claimedAt) < IDEMPOTENCY_KEY_LIFETIME_MS;
    if (!live) return [{ type: 'IdempotencyKeyClaimed', data: { ...command.claim, claimedAt: command.now.toISOString() } }];
    if (claim.functionId !== command.claim.functionId || claim.requestDigest !== command.claim.requestDigest) {
      throw new DomainError('IdempotencyKeyReused', 'this Idempotency-Key was used for another request (another function or body) in the last 24 hours');
    }
    return [];
  },
};
