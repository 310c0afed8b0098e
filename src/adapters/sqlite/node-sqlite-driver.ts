import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteValue } from '../../ports/sqlite.ts';

/**
 * Opens (creating if missing) a SQLite file with `node:sqlite`: Deno's built-in driver (Node 20
 * has none; from Node 22.5 it would serve there too). The Deno entry picks it. Left as they are:
 * a missing parameter binds NULL (better-sqlite3 throws), and reading an integer beyond 2^53
 * throws (better-sqlite3 rounds); the platform does neither.
 */
export function openNodeSqlite(path: string): SqliteDatabase {
  const db = new DatabaseSync(path);
  // better-sqlite3 waits 5 s for another connection's lock; node:sqlite would fail at once.
  db.exec('PRAGMA busy_timeout = 5000');
  return {
    exec(sql) {
      db.exec(sql);
    },
    prepare(sql) {
      const statement = db.prepare(sql);
      // Returning arrays is a setting of a statement, not of a call: they get a statement of their own.
      let rows: StatementSync | undefined;
      return {
        run: (...params: SqliteValue[]) => {
          const { changes, lastInsertRowid } = statement.run(...params);
          return { changes: Number(changes), lastInsertRowid };
        },
        // Rows have a null prototype; spread, JSON and property reads treat them as any object.
        get: (...params: SqliteValue[]) => statement.get(...params),
        all: (...params: SqliteValue[]) => statement.all(...params),
        values: (...params: SqliteValue[]) => {
          if (rows === undefined) {
            rows = db.prepare(sql);
            rows.setReturnArrays(true);
          }
          return rows.all(...params) as unknown as SqliteValue[][];
        },
      };
    },
    close() {
      db.close();
    },
  };
}

