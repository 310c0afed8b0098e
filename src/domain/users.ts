import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';

export type UserEvent =
  | DomainEvent<'UserRegistered', { userId: string; email: string; passwordHash: string; registeredAt: string }>
  | DomainEvent<'TokenIssued', { jti: string; issuedAt: string; expiresAt: string }>
  | DomainEvent<'UserDeleted', { userId: string; deletedAt: string }>;

export type IssuedToken = { jti: string; issuedAt: string; expiresAt: string };

export type UserState =
  | { status: 'unregistered' }
  | {
      status: 'active';
      userId: string;
      email: string;
      passwordHash: string;
      registeredAt: string;
      tokens: IssuedToken[];
    }
  | { status: 'deleted'; userId: string; email: string };

export type UserCommand =
  | { type: 'RegisterUser'; userId: string; email: string; passwordHash: string; now: Date }
  | { type: 'IssueToken'; jti: string; lifetimeMs: number; now: Date }
  | { type: 'DeleteUser'; now: Date };

/**
 * A token is handed out again while more than half of its lifetime is left: logging in twice
 * gives the same token (HS256 signs identically), yet nobody receives one about to expire.
 */
export const reusableToken = (state: UserState, now: Date): IssuedToken | undefined => {
  if (state.status !== 'active') return undefined;
  const t = now.getTime();
  return state.tokens.findLast((token) => {
    const issued = Date.parse(token.issuedAt);
    const expires = Date.parse(token.expiresAt);
    return issued <= t && t < expires && expires - t > (expires - issued) / 2;
  });
};

export const userDecider: Decider<UserCommand, UserEvent, UserState> = {
  initialState: () => ({ status: 'unregistered' }),

  evolve: (state, event) => {
    switch (event.type) {
      case 'UserRegistered':
        return { status: 'active', ...event.data, tokens: [] };
      case 'TokenIssued':
        return state.status === 'active' ? { ...state, tokens: [...state.tokens, event.data] } : state;
      case 'UserDeleted':
        return state.status === 'active' ? { status: 'deleted', userId: state.userId, email: state.email } : state;
    }
  },

  decide: (command, state) => {
    switch (command.type) {
      case 'RegisterUser':
        if (state.status !== 'unregistered') throw new DomainError('UserAlreadyExists', 'the user already exists');
        return [
          {
            type: 'UserRegistered',
            data: {
              userId: command.userId,
              email: command.email,
              passwordHash: command.passwordHash,
              registeredAt: command.now.toISOString(),
            },
          },
        ];
      case 'IssueToken': {
        if (state.status !== 'active') throw new DomainError('UserNotFound', 'no such user');
        if (reusableToken(state, command.now)) return [];
        // JWT times have a resolution of seconds; keeping the event in seconds too lets the
        // same token be re-signed from the event alone.
        const issuedAt = Math.floor(command.now.getTime() / 1000) * 1000;
        return [
          {
            type: 'TokenIssued',
            data: {
              jti: command.jti,
              issuedAt: new Date(issuedAt).toISOString(),
              expiresAt: new Date(issuedAt + Math.floor(command.lifetimeMs / 1000) * 1000).toISOString(),
            },
          },
        ];
      }
      case 'DeleteUser':
        if (state.status !== 'active') throw new DomainError('UserNotFound', 'no such user');
        return [{ type: 'UserDeleted', data: { userId: state.userId, deletedAt: command.now.toISOString() } }];
    }
  },
};
