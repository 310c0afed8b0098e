import { streamPrefixes } from '../src/domain/streams.ts';
import type { UserEvent } from '../src/domain/users.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

export type UserView = {
  id: string;
  email: string;
  createdAt: string;
  deleted: boolean;
  /** jti → expiry (ms since epoch) of every token issued and not yet expired when last seen. */
  tokens: Map<string, number>;
};

export type UsersProjection = Projection & {
  get(userId: string): UserView | undefined;
};

export function createUsersProjection(): UsersProjection {
  const users = new Map<string, UserView>();
  return {
    name: 'users',
    streamPrefixes: [streamPrefixes.user],
    apply(recorded: RecordedEvent) {
      const event = recorded as unknown as UserEvent & RecordedEvent;
      const userId = recorded.streamName.slice(streamPrefixes.user.length);
      switch (event.type) {
        case 'UserRegistered':
          users.set(userId, {
            id: userId,
            email: event.data.email,
            createdAt: event.data.registeredAt,
            deleted: false,
            tokens: new Map(),
          });
          return;
        case 'TokenIssued': {
          const user = users.get(userId);
          user?.tokens.set(event.data.jti, Date.parse(event.data.expiresAt));
          return;
        }
        case 'UserDeleted': {
          const user = users.get(userId);
          if (user) {
            user.deleted = true;
            user.tokens.clear();
          }
          return;
        }
      }
    },
    get: (userId) => users.get(userId),
  };
}
