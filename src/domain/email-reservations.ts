import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';

/**
 * One stream per email address makes uniqueness a conditional append: of two registrations
 * racing for one address, exactly one append at the revision read succeeds.
 */
export type EmailReservationEvent =
  | DomainEvent<'EmailReserved', { userId: string; reservedAt: string }>
  | DomainEvent<'EmailReleased', { userId: string; releasedAt: string }>;

export type EmailReservationState = { holder: { userId: string; reservedAt: string } | null };

export type EmailReservationCommand =
  | {
      type: 'ReserveEmail';
      userId: string;
      now: Date;
      /**
       * A holder the caller found abandoned: its registration reserved the email, then died
       * before recording the user. Naming it lets the reservation pass to the new user instead
       * of locking the address out for ever.
       */
      abandonedHolder?: string;
    }
  | { type: 'ReleaseEmail'; userId: string; now: Date };

export const emailReservationDecider: Decider<EmailReservationCommand, EmailReservationEvent, EmailReservationState> =
  {
    initialState: () => ({ holder: null }),

    evolve: (state, event) => {
      switch (event.type) {
        case 'EmailReserved':
          return { holder: { userId: event.data.userId, reservedAt: event.data.reservedAt } };
        case 'EmailReleased':
          return state.holder?.userId === event.data.userId ? { holder: null } : state;
      }
    },

    decide: (command, state) => {
      const now = command.now.toISOString();
      switch (command.type) {
        case 'ReserveEmail': {
          const holder = state.holder;
          if (holder === null) return [{ type: 'EmailReserved', data: { userId: command.userId, reservedAt: now } }];
          if (holder.userId === command.userId) return [];
          if (holder.userId !== command.abandonedHolder) throw new DomainError('EmailTaken', 'the email is already registered');
          return [
            { type: 'EmailReleased', data: { userId: holder.userId, releasedAt: now } },
            { type: 'EmailReserved', data: { userId: command.userId, reservedAt: now } },
          ];
        }
        case 'ReleaseEmail':
          // Releasing what one does not hold changes nothing: deletion may be retried.
          return state.holder?.userId === command.userId
            ? [{ type: 'EmailReleased', data: { userId: command.userId, releasedAt: now } }]
            : [];
      }
    },
  };
