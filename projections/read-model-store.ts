import { type SqliteDatabase, inWriteTransaction } from '../src/ports/sqlite.ts';
import type { Projection } from './projection.ts';

export type Checkpoint = { position: number; version: number };

/**
 * Where the read models live: one SQLite database per api process. The checkpoints sit in the
 * same database and move in the same transaction as the rows, so after a crash a projection
 * resumes exactly where its rows are: no event is applied twice or skipped.
 */
export function prepareReadModelDatabase(db: SqliteDatabase): void {
  // Read models can be rebuilt from the log, so NORMAL (no fsync per commit) is enough: a crash
  // loses at most the last commits, and their events are applied again from the older checkpoint.
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS checkpoints (
    projection TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    version    INTEGER NOT NULL
  ) STRICT`);
}

/** SQLite's default: a checkpoint once the write-ahead log passes 1 000 pages (4 MB). */
const LIVE_WAL_AUTOCHECKPOINT = 1_000;
/**
 * The read models of a million events take about 125 MB; their index pages, which random ids
 * touch all over, fit in this. More bought no speed in a rebuild (256 MB: the same rate, 60 MB
 * more peak RSS).
 */
const CATCH_UP_CACHE_KIB = 64 * 1024;
/** A checkpoint per 400 MB of log, rather than one after each 4 MB: a few instead of hundreds. */
const CATCH_UP_WAL_AUTOCHECKPOINT = 100_000;

/**
 * Catching up (a rebuild, or an api far behind the log) commits a large batch of events at a
 * time. Each batch touches index pages all over the file (execution ids are random), so a small
 * page cache reads pages back that it has just written, and the default checkpoint copies every
 * commit from the log into the file and syncs both. Here the cache holds the read models and
 * the log is checkpointed rarely, so far fewer bytes are written and synced. A commit stays
 * atomic with its checkpoint rows; a power loss may lose more of the last commits than with a
 * small log, which synchronous=NORMAL allows already: their events are applied again from the
 * older checkpoint. Returns the function that goes back to the live settings: the log is then
 * checkpointed and truncated, and the cache shrinks to its usual size.
 */
export function tuneForCatchUp(db: SqliteDatabase): () => void {
  const liveCacheSize = Number(db.prepare('PRAGMA cache_size').get()?.['cache_size']);
  db.exec(`PRAGMA cache_size = -${CATCH_UP_CACHE_KIB}`);
  db.exec(`PRAGMA wal_autocheckpoint = ${CATCH_UP_WAL_AUTOCHECKPOINT}`);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    db.exec(`PRAGMA wal_autocheckpoint = ${LIVE_WAL_AUTOCHECKPOINT}`);
    // Busy (a reader such as `faasbox projections status` holds the log) is no error: the next
    // checkpoints catch up, and the log file is reused from its start once they have.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.exec(`PRAGMA cache_size = ${liveCacheSize}`);
  };
}

export function readCheckpoint(db: SqliteDatabase, projection: string): Checkpoint | undefined {
  const row = db.prepare('SELECT position, version FROM checkpoints WHERE projection = ?').get(projection);
  return row === undefined ? undefined : { position: Number(row.position), version: Number(row.version) };
}

export function saveCheckpoint(db: SqliteDatabase, projection: Projection, position: number): void {
  db.prepare(
    `INSERT INTO checkpoints (projection, position, version) VALUES (?, ?, ?)
     ON CONFLICT (projection) DO UPDATE SET position = excluded.position, version = excluded.version`,
  ).run(projection.name, position, projection.version);
}

/** Empties the projections' tables and sets their checkpoints to zero, in one transaction. */
export function resetProjections(db: SqliteDatabase, projections: readonly Projection[]): void {
  if (projections.length === 0) return;
  inWriteTransaction(db, () => {
    for (const projection of projections) {
      for (const table of projection.tables) db.exec(`DELETE FROM ${table}`);
      saveCheckpoint(db, projection, 0);
    }
  });
}

export class ReadModelsInUseError extends Error {
  override readonly name = 'ReadModelsInUseError';
}

/**
 * One writer per read-model database: a second api on the same file would apply every event
 * twice, and a rebuild under a running api would race it. The lock is an open exclusive
 * transaction on a lock file beside the database; the operating system drops it when the
 * process dies, so a crash never leaves a stale lock behind. Returns the release.
 */
export function lockReadModels(openDatabase: (path: string) => SqliteDatabase, path: string): () => void {
  const lock = openDatabase(`${path}.lock`);
  try {
    lock.exec('PRAGMA busy_timeout = 0');
    lock.exec('BEGIN EXCLUSIVE');
  } catch {
    lock.close();
    throw new ReadModelsInUseError(
      `the read models at ${path} are in use by another process (a running api, or a rebuild); ` +
        'give each api its own FAASBOX_PROJECTIONS_PATH, and stop the api before a rebuild',
    );
  }
  return () => {
    lock.exec('ROLLBACK');
    lock.close();
  };
}
