import { Database } from 'bun:sqlite';
import type { SqliteDatabase, SqliteValue } from '../../ports/sqlite.ts';

/**
 * Opens (creating if missing) a SQLite file with `bun:sqlite`, Bun's built-in driver. Only Bun
 * can load this module: the Bun entry picks it, nothing else imports it.
 */
export function openBunSqlite(path: string): SqliteDatabase {
  // strict: a missing parameter throws, as in better-sqlite3, instead of binding NULL.
  const db = new Database(path, { create: true, strict: true });
  // better-sqlite3 waits 5 s for another connection's lock; bun:sqlite would fail at once.
  db.exec('PRAGMA busy_timeout = 5000');
  return {
    exec(sql) {
      db.exec(sql);
    },
    prepare(sql) {
      const statement = db.prepare(sql);
      return {
        run: (...params: SqliteValue[]) => {
          const { changes, lastInsertRowid } = statement.run(...params);
          return { changes, lastInsertRowid };
        },
        // bun:sqlite answers a missing row with null; the seam (and better-sqlite3) with undefined.
        get: (...params: SqliteValue[]) => statement.get(...params) ?? undefined,
        all: (...params: SqliteValue[]) => statement.all(...params),
        values: (...params: SqliteValue[]) => statement.values(...params),
      };
    },
    close() {
      db.close();
    },
  };
}
