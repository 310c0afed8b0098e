import Database from 'better-sqlite3';
import type { SqliteDatabase, SqliteRow, SqliteValue } from './driver.ts';

/** Opens (creating if missing) a SQLite file with better-sqlite3, the Node driver. */
export function openBetterSqlite3(path: string): SqliteDatabase {
  const db = new Database(path);
  return {
    exec(sql) {
      db.exec(sql);
    },
    // better-sqlite3 statements already have the seam's shape; typing them is all it takes.
    prepare: (sql) => db.prepare<SqliteValue[], SqliteRow>(sql),
    close() {
      db.close();
    },
  };
}
