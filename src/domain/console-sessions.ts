import type { Decider, DomainEvent } from './decider.ts';

/**
 * A web console session (src/http/console/): what its cookie stands for, one stream each,
 * `console-session-<sha256 of the cookie's secret>` (the stream name, which the audit shows,
 * never holds the secret). Signing out ends it at once on every api: each page reads it.
 */
export type ConsoleSessionEvent =
  | DomainEvent<'ConsoleSessionStarted', { userId: string; startedAt: string; expiresAt: string }>
  | DomainEvent<'ConsoleSessionEnded', { userId: string; endedAt: string; reason: 'signed out' }>;

export type ConsoleSessionState =
  | { status: 'absent' }
  | { status: 'open'; userId: string; expiresAt: string }
  | { status: 'ended'; userId: string };

export type ConsoleSessionCommand =
  | { type: 'StartConsoleSession'; userId: string; now: Date; lifetimeMs: number }
  | { type: 'EndConsoleSession'; now: Date };

export const consoleSessionDecider: Decider<ConsoleSessionCommand, ConsoleSessionEvent, ConsoleSessionState> = {
  initialState: () => ({ status: 'absent' }),

  evolve: (state, event) => {
    switch (event.type) {
      case 'ConsoleSessionStarted':
        return { status: 'open', userId: event.data.userId, expiresAt: event.data.expiresAt };
      case 'ConsoleSessionEnded':
        return { status: 'ended', userId: event.data.userId };
    }
  },

  decide: (command, state) => {
    switch (command.type) {
      case 'StartConsoleSession': {
        // A new random secret names a new stream: one that exists is no session to start again.
        if (state.status !== 'absent') return [];
        const expiresAt = new Date(command.now.getTime() + command.lifetimeMs).toISOString();
        return [{ type: 'ConsoleSessionStarted', data: { userId: command.userId, startedAt: command.now.toISOString(), expiresAt } }];
      }
      case 'EndConsoleSession':
        // Signing out twice, or out of a session that is gone, ends nothing more.
        if (state.status !== 'open') return [];
        return [{ type: 'ConsoleSessionEnded', data: { userId: state.userId, endedAt: command.now.toISOString(), reason: 'signed out' } }];
    }
  },
};

/** Whether the session lets its holder in at `now`. */
export const isOpenAt = (state: ConsoleSessionState, now: Date): state is Extract<ConsoleSessionState, { status: 'open' }> =>
  state.status === 'open' && Date.parse(state.expiresAt) > now.getTime();
