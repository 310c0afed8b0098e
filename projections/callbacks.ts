import type { CallbackEvent } from '../src/domain/callbacks.ts';
import type { ExecutionEvent } from '../src/domain/executions.ts';
import { streamPrefixes } from '../src/domain/streams.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import type { Projection } from './projection.ts';

export type CallbacksProjection = Projection & {
  /**
   * Executions whose callback may be due at `now`: ended, not delivered or abandoned, and past
   * their next attempt's time (or their in-flight attempt's lease), the longest waiting first.
   * A hint for the sender, which decides from the streams.
   */
  due(now: Date, limit: number): string[];
  /** Callbacks not delivered or abandoned yet, ended or not. */
  pending(): number;
};

/**
 * The callbacks still to deliver, for the sender (src/processes/callback-sender.ts). A row is
 * made by an ExecutionQueued that names a callback and removed once the callback was delivered
 * or abandoned, so the table holds only the work in hand.
 */
export function createCallbacksProjection(db: SqliteDatabase): CallbacksProjection {
  db.exec(`
    CREATE TABLE IF NOT EXISTS callbacks (
      execution_id TEXT PRIMARY KEY,
      ended        INTEGER NOT NULL,
      due_ms       INTEGER NOT NULL,
      position     INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks (due_ms) WHERE ended = 1;
  `);
  const insert = db.prepare('INSERT OR IGNORE INTO callbacks (execution_id, ended, due_ms, position) VALUES (?, 0, 0, ?)');
  const markEnded = db.prepare('UPDATE callbacks SET ended = ? WHERE execution_id = ?');
  const setDue = db.prepare('UPDATE callbacks SET due_ms = ? WHERE execution_id = ?');
  const remove = db.prepare('DELETE FROM callbacks WHERE execution_id = ?');
  const selectDue = db.prepare('SELECT execution_id FROM callbacks WHERE ended = 1 AND due_ms <= ? ORDER BY due_ms LIMIT ?');
  const countPending = db.prepare('SELECT count(*) AS n FROM callbacks');

  const applyExecution = (executionId: string, recorded: RecordedEvent) => {
    // The lead's lifecycle may add event types; anything not named here leaves the row alone.
    const event = recorded as unknown as ExecutionEvent & RecordedEvent;
    switch (event.type) {
      case 'ExecutionQueued':
        if (event.data.callbackUrl !== undefined) insert.run(executionId, recorded.position);
        return;
      case 'ExecutionSucceeded':
      case 'ExecutionFailed':
      case 'ExecutionTimedOut':
        markEnded.run(1, executionId);
        return;
      // Another attempt follows the one that ended: the execution has not ended for good. (Its
      // ending and this are appended together, so the sender never sees the ending alone.)
      case 'ExecutionRetryScheduled':
        markEnded.run(0, executionId);
        return;
      default:
        return;
    }
  };

  const applyCallback = (executionId: string, recorded: RecordedEvent) => {
    const event = recorded as unknown as CallbackEvent & RecordedEvent;
    switch (event.type) {
      case 'CallbackAttemptStarted':
        setDue.run(Date.parse(event.data.leaseUntil), executionId);
        return;
      case 'CallbackAttemptFailed':
        if (event.data.nextAttemptAt !== null) setDue.run(Date.parse(event.data.nextAttemptAt), executionId);
        return;
      case 'CallbackDelivered':
      case 'CallbackAbandoned':
        remove.run(executionId);
        return;
    }
  };

  return {
    name: 'callbacks',
    version: 1,
    streamPrefixes: [streamPrefixes.execution, streamPrefixes.callback],
    tables: ['callbacks'],
    apply(recorded: RecordedEvent) {
      if (recorded.streamName.startsWith(streamPrefixes.callback)) {
        applyCallback(recorded.streamName.slice(streamPrefixes.callback.length), recorded);
      } else {
        applyExecution(recorded.streamName.slice(streamPrefixes.execution.length), recorded);
      }
    },
    due: (now, limit) => selectDue.all(now.getTime(), limit).map((row) => String(row.execution_id)),
    pending: () => Number(countPending.get()?.['n'] ?? 0),
  };
}
