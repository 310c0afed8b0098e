import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import { streamPrefixes } from '../src/domain/streams.ts';
import type { UserEvent } from '../src/domain/users.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

export type UserView = { id: string; email: string; createdAt: string; deleted: boolean; operator: boolean };

export type UsersProjection = Projection & {
  get(userId: string): UserView | undefined;
  /** Every account ever registered with this email: the live one first, then newest first. */
  findByEmail(email: string): UserView[];
  /** Whether the token was issued to this user and had not expired when the user last logged in. */
  hasToken(userId: string, jti: string): boolean;
  /**
   * The users granted operator rights, by email. For listing only: the admin routes decide from
   * the user's stream, which this model may lag behind.
   */
  listOperators(): (UserView & { grantedAt: string })[];
};

type UserRow = { id: string; email: string; created_at: string; deleted: number; operator: number };

const toView = (row: UserRow): UserView => ({
  id: row.id,
  email: row.email,
  createdAt: row.created_at,
  deleted: row.deleted === 1,
  operator: row.operator === 1,
});

const USER_COLUMNS = 'id, email, created_at, deleted, EXISTS (SELECT 1 FROM operators WHERE user_id = id) AS operator';

export function createUsersProjection(db: SqliteDatabase): UsersProjection {
  db.exec(`
    CREATE TABLE IF NOT EXISTS users (
      id         TEXT PRIMARY KEY,
      email      TEXT NOT NULL,
      created_at TEXT NOT NULL,
      deleted    INTEGER NOT NULL,
      position   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS users_by_email ON users (email, position);
    CREATE TABLE IF NOT EXISTS user_tokens (
      jti        TEXT PRIMARY KEY,
      user_id    TEXT NOT NULL,
      expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS user_tokens_by_user ON user_tokens (user_id, expires_at);
    -- A table of its own rather than a column of users: CREATE TABLE IF NOT EXISTS adds it to a
    -- read-model database of version 1, which has no ALTER path.
    CREATE TABLE IF NOT EXISTS operators (
      user_id    TEXT PRIMARY KEY,
      granted_at TEXT NOT NULL
    ) STRICT;
  `);
  const insertUser = db.prepare(
    'INSERT OR IGNORE INTO users (id, email, created_at, deleted, position) VALUES (?, ?, ?, 0, ?)',
  );
  const markDeleted = db.prepare('UPDATE users SET deleted = 1 WHERE id = ?');
  const insertToken = db.prepare('INSERT OR IGNORE INTO user_tokens (jti, user_id, expires_at) VALUES (?, ?, ?)');
  // Expired tokens are dropped as of the event's own time, never the clock: a rebuild must agree.
  const dropExpiredTokens = db.prepare('DELETE FROM user_tokens WHERE user_id = ? AND expires_at <= ?');
  const dropTokens = db.prepare('DELETE FROM user_tokens WHERE user_id = ?');
  const grant = db.prepare('INSERT OR REPLACE INTO operators (user_id, granted_at) VALUES (?, ?)');
  const revoke = db.prepare('DELETE FROM operators WHERE user_id = ?');
  const selectUser = db.prepare(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`);
  const selectByEmail = db.prepare(`SELECT ${USER_COLUMNS} FROM users WHERE email = ? ORDER BY deleted, position DESC`);
  const selectOperators = db.prepare(
    `SELECT ${USER_COLUMNS}, granted_at FROM users JOIN operators ON user_id = id ORDER BY email`,
  );
  const selectToken = db.prepare('SELECT 1 FROM user_tokens WHERE jti = ? AND user_id = ?');

  return {
    name: 'users',
    version: 2,
    streamPrefixes: [streamPrefixes.user],
    tables: ['users', 'user_tokens', 'operators'],
    apply(recorded: RecordedEvent) {
      const event = recorded as unknown as UserEvent & RecordedEvent;
      const userId = recorded.streamName.slice(streamPrefixes.user.length);
      switch (event.type) {
        case 'UserRegistered':
          insertUser.run(userId, event.data.email, event.data.registeredAt, recorded.position);
          return;
        case 'TokenIssued':
          dropExpiredTokens.run(userId, Date.parse(event.data.issuedAt));
          insertToken.run(event.data.jti, userId, Date.parse(event.data.expiresAt));
          return;
        case 'UserDeleted':
          markDeleted.run(userId);
          dropTokens.run(userId);
          revoke.run(userId);
          return;
        case 'OperatorGranted':
          grant.run(userId, event.data.grantedAt);
          return;
        case 'OperatorRevoked':
          revoke.run(userId);
          return;
      }
    },
    get(userId) {
      const row = selectUser.get(userId) as UserRow | undefined;
      return row && toView(row);
    },
    findByEmail: (email) => selectByEmail.all(email).map((row) => toView(row as UserRow)),
    hasToken: (userId, jti) => selectToken.get(jti, userId) !== undefined,
    listOperators: () =>
      selectOperators.all().map((row) => ({ ...toView(row as UserRow), grantedAt: String(row.granted_at) })),
  };
}
