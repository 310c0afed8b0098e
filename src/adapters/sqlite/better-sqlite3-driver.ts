import Database, { type Statement } from 'better-sqlite3';
import type { SqliteDatabase, SqliteRow, SqliteValue } from '../../ports/sqlite.ts';

/** Opens (creating if missing) a SQLite file with better-sqlite3, the Node driver. */
export function openBetterSqlite3(path: string): SqliteDatabase {
  const db = new Database(path);
  return {
    exec(sql) {
      db.exec(sql);
    },
    prepare(sql) {
      const statement = db.prepare<SqliteValue[], SqliteRow>(sql);
      // Raw mode is a setting of a statement, not of a call: rows as arrays get a statement of their own.
      let rows: Statement<SqliteValue[], SqliteValue[]> | undefined;
      return {
        run: (...params) => statement.run(...params),
        get: (...params) => statement.get(...params),
        all: (...params) => statement.all(...params),
        values: (...params) => (rows ??= db.prepare<SqliteValue[], SqliteValue[]>(sql).raw(true)).all(...params),
      };
    },
    close() {
      db.close();
    },
  };
}
