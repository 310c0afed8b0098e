import type { SqliteDatabase, SqliteRow } from '../src/ports/sqlite.ts';
import type { ExecutionStatus } from '../src/domain/execution-outcome.ts';
import type { ExecutionEvent } from '../src/domain/executions.ts';
import { streamPrefixes } from '../src/domain/streams.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

/** What lists show of an execution; the output itself is read from its stream. */
export type ExecutionSummary = {
  executionId: string;
  functionId: string;
  ownerId: string;
  status: ExecutionStatus;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  deadline: string;
  exitCode: number | null;
  durationMs: number | null;
  reason: string | null;
  /** The current attempt (src/domain/retries.ts): 1 unless the execution was retried. */
  attempt: number;
  /** When it went on its owner's dead-letter list, and why; null when it is not on it. */
  deadLetteredAt: string | null;
  deadLetterReason: string | null;
};

export type ExecutionsProjection = Projection & {
  get(executionId: string): ExecutionSummary | undefined;
  /** Newest first. */
  listByFunction(functionId: string, limit: number): ExecutionSummary[];
  /** Newest first, across every user. */
  listByStatus(status: ExecutionStatus, limit: number): ExecutionSummary[];
  /** Queued or running executions, per user, per status and in total. */
  active(): { total: number; byUser: Map<string, number>; byStatus: { queued: number; running: number } };
  /** Queued or running executions whose deadline has passed at `now` (an attempt waiting for its time has none). */
  overdue(now: Date): ExecutionSummary[];
  /** Attempts scheduled for `now` or earlier and not handed out yet, oldest first. */
  retriesDue(now: Date): ExecutionSummary[];
  /** Executions on a dead-letter list, newest first: one owner's, or everyone's (null). */
  deadLetters(ownerId: string | null, limit: number): ExecutionSummary[];
  /**
   * One owner's executions, newest first, of one status and of one function when given; `before`
   * continues a page after that execution (the console's history).
   */
  listByOwner(ownerId: string, filter: { status?: ExecutionStatus; functionId?: string; before?: string }, limit: number): ExecutionSummary[];
};

const COLUMNS =
  'id, function_id, owner_id, status, queued_at, started_at, finished_at, deadline, exit_code, duration_ms, reason, attempt, dead_lettered_at, dead_letter_reason';

const toSummary = (row: SqliteRow): ExecutionSummary => ({
  executionId: String(row.id),
  functionId: String(row.function_id),
  ownerId: String(row.owner_id),
  status: row.status as ExecutionStatus,
  queuedAt: String(row.queued_at),
  startedAt: row.started_at === null ? null : String(row.started_at),
  finishedAt: row.finished_at === null ? null : String(row.finished_at),
  deadline: String(row.deadline),
  exitCode: row.exit_code === null ? null : Number(row.exit_code),
  durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
  reason: row.reason === null ? null : String(row.reason),
  attempt: Number(row.attempt),
  deadLetteredAt: row.dead_lettered_at === null ? null : String(row.dead_lettered_at),
  deadLetterReason: row.dead_letter_reason === null ? null : String(row.dead_letter_reason),
});

export function createExecutionsProjection(db: SqliteDatabase): ExecutionsProjection {
  // Active executions are few, terminal ones many: the partial index keeps the sweeper's and the
  // operators' questions about active work cheap however long the history grows.
  // Version 1's table lacks the attempt's columns: version 2 rebuilds it from the log anyway.
  const columns = db.prepare(`SELECT name FROM pragma_table_info('executions')`).all();
  if (columns.length > 0 && !columns.some((column) => column.name === 'dead_letter_reason')) db.exec('DROP TABLE executions');
  db.exec(`
    CREATE TABLE IF NOT EXISTS executions (
      id          TEXT PRIMARY KEY,
      function_id TEXT NOT NULL,
      owner_id    TEXT NOT NULL,
      status      TEXT NOT NULL,
      queued_at   TEXT NOT NULL,
      started_at  TEXT,
      finished_at TEXT,
      deadline    TEXT NOT NULL,
      deadline_ms INTEGER NOT NULL,
      exit_code   INTEGER,
      duration_ms INTEGER,
      reason      TEXT,
      attempt     INTEGER NOT NULL DEFAULT 1,
      retry_at_ms INTEGER,
      dead_lettered_at TEXT,
      dead_letter_reason TEXT,
      position    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS executions_by_function ON executions (function_id, position);
    CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, position);
    CREATE INDEX IF NOT EXISTS executions_retrying ON executions (retry_at_ms) WHERE retry_at_ms IS NOT NULL;
    CREATE INDEX IF NOT EXISTS executions_by_owner ON executions (owner_id, position);
    CREATE INDEX IF NOT EXISTS executions_dead_lettered ON executions (owner_id, position) WHERE dead_lettered_at IS NOT NULL;
  `);
  const insert = db.prepare(
    `INSERT OR IGNORE INTO executions (id, function_id, owner_id, status, queued_at, deadline, deadline_ms, position)
     VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)`,
  );
  const start = db.prepare(`UPDATE executions SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'`);
  // The execution machine decided each stored event already: the first outcome is the outcome,
  // and a later one (a late result after a timeout) changes no summary.
  const finish = db.prepare(
    `UPDATE executions SET status = ?, finished_at = ?, exit_code = ?, duration_ms = ?, reason = ?, retry_at_ms = NULL
     WHERE id = ? AND status IN ('queued', 'running')`,
  );
  // The next attempt starts from scratch: what the last one left is in the execution's stream.
  const scheduleRetry = db.prepare(
    `UPDATE executions SET status = 'queued', attempt = ?, retry_at_ms = ?, deadline = ?, deadline_ms = ?,
       started_at = NULL, finished_at = NULL, exit_code = NULL, duration_ms = NULL, reason = NULL
     WHERE id = ?`,
  );
  const requeue = db.prepare(`UPDATE executions SET retry_at_ms = NULL, deadline = ?, deadline_ms = ? WHERE id = ?`);
  const deadLetter = db.prepare(`UPDATE executions SET dead_lettered_at = ?, dead_letter_reason = ? WHERE id = ?`);
  const leaveDeadLetters = db.prepare(`UPDATE executions SET dead_lettered_at = NULL, dead_letter_reason = NULL WHERE id = ?`);
  const select = db.prepare(`SELECT ${COLUMNS} FROM executions WHERE id = ?`);
  const selectByFunction = db.prepare(
    `SELECT ${COLUMNS} FROM executions WHERE function_id = ? ORDER BY position DESC LIMIT ?`,
  );
  const selectByStatus = db.prepare(`SELECT ${COLUMNS} FROM executions WHERE status = ? ORDER BY position DESC LIMIT ?`);
  const countActive = db.prepare(
    `SELECT owner_id, status, count(*) AS n FROM executions WHERE status IN ('queued', 'running') GROUP BY owner_id, status`,
  );
  const selectOverdue = db.prepare(
    `SELECT ${COLUMNS} FROM executions WHERE status IN ('queued', 'running') AND deadline_ms <= ? AND retry_at_ms IS NULL ORDER BY position`,
  );
  const selectRetriesDue = db.prepare(`SELECT ${COLUMNS} FROM executions WHERE retry_at_ms <= ? ORDER BY retry_at_ms`);
  const selectDeadLetters = db.prepare(
    `SELECT ${COLUMNS} FROM executions WHERE dead_lettered_at IS NOT NULL AND owner_id = ? ORDER BY position DESC LIMIT ?`,
  );
  // A filter left out matches every row: one statement, one plan, whatever the page asks.
  const selectByOwner = db.prepare(
    `SELECT ${COLUMNS} FROM executions
     WHERE owner_id = ? AND (? IS NULL OR status = ?) AND (? IS NULL OR function_id = ?)
       AND position < coalesce((SELECT position FROM executions WHERE id = ? AND owner_id = ?), 9223372036854775807)
     ORDER BY position DESC LIMIT ?`,
  );
  const selectAllDeadLetters = db.prepare(
    `SELECT ${COLUMNS} FROM executions WHERE dead_lettered_at IS NOT NULL ORDER BY position DESC LIMIT ?`,
  );

  return {
    name: 'executions',
    version: 2,
    streamPrefixes: [streamPrefixes.execution],
    tables: ['executions'],
    apply(recorded: RecordedEvent) {
      const event = recorded as unknown as ExecutionEvent & RecordedEvent;
      const executionId = recorded.streamName.slice(streamPrefixes.execution.length);
      switch (event.type) {
        case 'ExecutionQueued': {
          const { functionId, ownerId, queuedAt, deadline } = event.data;
          insert.run(event.data.executionId, functionId, ownerId, queuedAt, deadline, Date.parse(deadline), recorded.position);
          return;
        }
        case 'ExecutionStarted':
          start.run(event.data.startedAt, executionId);
          return;
        case 'ExecutionSucceeded':
          finish.run('succeeded', event.data.finishedAt, event.data.exitCode, event.data.durationMs, null, executionId);
          return;
        case 'ExecutionFailed':
          finish.run(
            'failed',
            event.data.finishedAt,
            event.data.exitCode ?? null,
            event.data.durationMs ?? null,
            event.data.reason,
            executionId,
          );
          return;
        case 'ExecutionTimedOut':
          finish.run('timedOut', event.data.finishedAt, null, event.data.durationMs ?? null, null, executionId);
          return;
        case 'ExecutionRetryScheduled': {
          const { attempt, notBefore, deadline } = event.data;
          scheduleRetry.run(attempt, Date.parse(notBefore), deadline, Date.parse(deadline), executionId);
          return;
        }
        case 'ExecutionRequeued':
          requeue.run(event.data.deadline, Date.parse(event.data.deadline), executionId);
          return;
        case 'ExecutionDeadLettered':
          deadLetter.run(event.data.at, event.data.reason, executionId);
          return;
        case 'ExecutionRedriven':
        case 'ExecutionDeadLetterDiscarded':
          leaveDeadLetters.run(executionId);
          return;
      }
    },
    get(executionId) {
      const row = select.get(executionId);
      return row === undefined ? undefined : toSummary(row);
    },
    listByFunction: (functionId, limit) => selectByFunction.all(functionId, limit).map(toSummary),
    listByStatus: (status, limit) => selectByStatus.all(status, limit).map(toSummary),
    active() {
      const byUser = new Map<string, number>();
      const byStatus = { queued: 0, running: 0 };
      let total = 0;
      for (const row of countActive.all()) {
        const n = Number(row.n);
        const owner = String(row.owner_id);
        byUser.set(owner, (byUser.get(owner) ?? 0) + n);
        byStatus[row.status === 'running' ? 'running' : 'queued'] += n;
        total += n;
      }
      return { total, byUser, byStatus };
    },
    overdue: (now) => selectOverdue.all(now.getTime()).map(toSummary),
    retriesDue: (now) => selectRetriesDue.all(now.getTime()).map(toSummary),
    deadLetters: (ownerId, limit) => (ownerId === null ? selectAllDeadLetters.all(limit) : selectDeadLetters.all(ownerId, limit)).map(toSummary),
    listByOwner: (ownerId, { status = null, functionId = null, before = null }, limit) =>
      selectByOwner.all(ownerId, status, status, functionId, functionId, before, ownerId, limit).map(toSummary),
  };
}
