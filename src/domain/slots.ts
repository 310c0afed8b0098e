import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';

/**
 * Concurrency slots. Every event carries the whole set of leases held after it, so the state
 * is the stream's last event alone: a reservation costs one backwards read of one event, after
 * a million executions as after one. A lease whose time has passed counts as free, so a crashed
 * api or worker cannot leak capacity for ever.
 */
export type Lease = { executionId: string; leaseUntil: string };

/**
 * What a lease is held under: the execution id for its first attempt (as before retries), the id
 * and the attempt for a later one, so a late release of an attempt never frees its successor's.
 */
export const slotLeaseKey = (executionId: string, attempt: number) => (attempt > 1 ? `${executionId}#${attempt}` : executionId);

export type SlotEvent =
  | DomainEvent<'SlotReserved', { executionId: string; leaseUntil: string; active: Lease[] }>
  | DomainEvent<'SlotReleased', { executionId: string; active: Lease[] }>;

export type SlotState = { active: Lease[] };

export type SlotCommand =
  | { type: 'ReserveSlot'; executionId: string; leaseUntil: Date; limit: number; now: Date }
  | { type: 'ReleaseSlot'; executionId: string; now: Date };

export const liveLeases = (state: SlotState, now: Date) =>
  state.active.filter((lease) => Date.parse(lease.leaseUntil) > now.getTime());

export const slotDecider: Decider<SlotCommand, SlotEvent, SlotState> = {
  initialState: () => ({ active: [] }),
  evolve: (_state, event) => ({ active: event.data.active }),
  decide: (command, state) => {
    const live = liveLeases(state, command.now);
    switch (command.type) {
      case 'ReserveSlot': {
        if (live.some((lease) => lease.executionId === command.executionId)) return [];
        if (live.length >= command.limit) {
          throw new DomainError('LimitReached', `${command.limit} executions are already running`, 1);
        }
        const lease = { executionId: command.executionId, leaseUntil: command.leaseUntil.toISOString() };
        return [{ type: 'SlotReserved', data: { ...lease, active: [...live, lease] } }];
      }
      case 'ReleaseSlot':
        // Already released, or expired and dropped: nothing to do, so a release can be retried.
        if (!state.active.some((lease) => lease.executionId === command.executionId)) return [];
        return [
          {
            type: 'SlotReleased',
            data: { executionId: command.executionId, active: live.filter((l) => l.executionId !== command.executionId) },
          },
        ];
    }
  },
};
