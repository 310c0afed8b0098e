/**
 * The SQLite port: the few calls the event store and the read models make, so a runtime's own
 * driver can stand in: better-sqlite3 on Node, `bun:sqlite` on Bun, `node:sqlite` on Deno. All
 * three are synchronous and nearly have this shape, so an adapter (src/adapters/sqlite/) is a thin
 * pass-through that evens out the rest (a missing row, the busy timeout);
 * test/support/sqlite-driver-contract.ts holds each to it.
 */

export type SqliteValue = string | number | bigint | null;

export type SqliteRow = Record<string, unknown>;

export type SqliteRunResult = { changes: number; lastInsertRowid: number | bigint };

export interface SqliteStatement {
  run(...params: SqliteValue[]): SqliteRunResult;
  get(...params: SqliteValue[]): SqliteRow | undefined;
  all(...params: SqliteValue[]): SqliteRow[];
  /**
   * As `all`, each row an array of its values in the order of the columns. Naming the columns
   * of every row is most of the cost of a long read: catching up a million events.
   */
  values(...params: SqliteValue[]): SqliteValue[][];
}

export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

/**
 * Runs `work` inside BEGIN IMMEDIATE … COMMIT. IMMEDIATE takes the write lock up front (waiting
 * up to busy_timeout), so two writers never both read a stream and then both write it. Plain SQL
 * rather than a driver's transaction helper, because node:sqlite has none.
 */
export function inWriteTransaction<T>(db: SqliteDatabase, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite already rolled back on its own (e.g. SQLITE_FULL); the first error is the one to see.
    }
    throw error;
  }
}
