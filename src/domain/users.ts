import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';

export type UserEvent =
  | DomainEvent<'UserRegistered', { userId: string; email: string; passwordHash: string; registeredAt: string }>
  | DomainEvent<'TokenIssued', { jti: string; issuedAt: string; expiresAt: string }>
  | DomainEvent<'UserDeleted', { userId: string; deletedAt: string }>
  /** `grantedBy`, `revokedBy`: who ran `faasbox operators` on the host, as the host names them. */
  | DomainEvent<'OperatorGranted', { userId: string; grantedBy: string; grantedAt: string }>
  | DomainEvent<'OperatorRevoked', { userId: string; revokedBy: string; revokedAt: string }>;

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
      /**
       * Only an event on the user's own stream makes an operator, never the email: whoever
       * registers an address proves nothing about owning it, and a deletion ends the rights.
       */
      operator: boolean;
    }
  | { status: 'deleted'; userId: string; email: string };

export type UserCommand =
  | { type: 'RegisterUser'; userId: string; email: string; passwordHash: string; now: Date }
  | { type: 'IssueToken'; jti: string; lifetimeMs: number; now: Date }
  | { type: 'DeleteUser'; now: Date }
  | { type: 'GrantOperator'; by: string; now: Date }
  | { type: 'RevokeOperator'; by: string; now: Date };

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
        return { status: 'active', ...event.data, tokens: [], operator: false };
      case 'TokenIssued':
        return state.status === 'active' ? { ...state, tokens: [...state.tokens, event.data] } : state;
      case 'UserDeleted':
        return state.status === 'active' ? { status: 'deleted', userId: state.userId, email: state.email } : state;
      case 'OperatorGranted':
        return state.status === 'active' ? { ...state, operator: true } : state;
      case 'OperatorRevoked':
        return state.status === 'active' ? { ...state, operator: false } : state;
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
      // Granting twice or revoking what was never granted records nothing: the command can be
      // run again (by a script, after a timeout) without piling up events.
      case 'GrantOperator':
        if (state.status !== 'active') throw new DomainError('UserNotFound', 'no such user');
        if (state.operator) return [];
        return [{ type: 'OperatorGranted', data: { userId: state.userId, grantedBy: command.by, grantedAt: command.now.toISOString() } }];
      case 'RevokeOperator':
        if (state.status !== 'active') throw new DomainError('UserNotFound', 'no such user');
        if (!state.operator) return [];
        return [{ type: 'OperatorRevoked', data: { userId: state.userId, revokedBy: command.by, revokedAt: command.now.toISOString() } }];
    }
  },
};
