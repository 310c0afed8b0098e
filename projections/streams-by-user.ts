import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import { streamPrefixes } from '../src/domain/streams.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

export type StreamsByUserProjection = Projection & {
  /** Every stream that belongs to the user (deleted functions and old executions too), oldest first. */
  list(userId: string): string[];
};

/**
 * The audit index: which streams belong to which user, so an operator can read one user's whole
 * history without scanning the log. It only ever grows, as the log does.
 */
export function createStreamsByUserProjection(db: SqliteDatabase): StreamsByUserProjection {
  db.exec(`
    CREATE TABLE IF NOT EXISTS streams_by_user (
      user_id        TEXT NOT NULL,
      stream_name    TEXT NOT NULL,
      first_position INTEGER NOT NULL,
      PRIMARY KEY (user_id, stream_name)
    ) STRICT;
  `);
  const insert = db.prepare(
    'INSERT OR IGNORE INTO streams_by_user (user_id, stream_name, first_position) VALUES (?, ?, ?)',
  );
  const select = db.prepare('SELECT stream_name FROM streams_by_user WHERE user_id = ? ORDER BY first_position');

  return {
    name: 'streams-by-user',
    // 2: secrets streams; 3: console sessions.
    version: 3,
    // Slot streams are bookkeeping (a lease taken and returned per execution), not history.
    streamPrefixes: [streamPrefixes.user, streamPrefixes.email, streamPrefixes.function, streamPrefixes.execution, streamPrefixes.secrets, streamPrefixes.consoleSession],
    tables: ['streams_by_user'],
    apply(event: RecordedEvent) {
      const userId = ownerOf(event);
      if (userId !== undefined) insert.run(userId, event.streamName, event.position);
    },
    list: (userId) => select.all(userId).map((row) => String(row.stream_name)),
  };
}

function ownerOf({ streamName, revision, data }: RecordedEvent): string | undefined {
  if (streamName.startsWith(streamPrefixes.user)) return streamName.slice(streamPrefixes.user.length);
  if (streamName.startsWith(streamPrefixes.secrets)) return streamName.slice(streamPrefixes.secrets.length);
  const fields = data as { userId?: unknown; ownerId?: unknown };
  // An email stream changes hands when an address is freed and taken again: each holder's event names it.
  if (streamName.startsWith(streamPrefixes.email)) return typeof fields.userId === 'string' ? fields.userId : undefined;
  // A console session's first event names whose it is (its stream's name is a digest).
  if (streamName.startsWith(streamPrefixes.consoleSession)) return revision === 0 && typeof fields.userId === 'string' ? fields.userId : undefined;
  // A function's or an execution's first event names its owner.
  if (revision === 0 && typeof fields.ownerId === 'string') return fields.ownerId;
  return undefined;
}
