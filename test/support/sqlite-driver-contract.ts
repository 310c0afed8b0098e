/**
 * What the SQLite seam (src/ports/sqlite.ts) promises, whichever driver is behind it:
 * better-sqlite3 under Node, bun:sqlite under Bun, node:sqlite under Deno. Each difference the
 * drivers have out of the box that the event store or the read models would notice is a test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SqliteDatabase } from '../../src/ports/sqlite.ts';

/** A row as a plain object: node:sqlite's rows have a null prototype, which uvu's equal tells apart. */
const plain = (rows: unknown) => JSON.parse(JSON.stringify(rows)) as unknown;

/** Defines and runs (uvu's `run()`) the seam's contract for one driver. */
export function defineSqliteDriverContract(name: string, openSqlite: (path: string) => SqliteDatabase) {
  const test = suite(`sqlite driver contract [${name}]`);

  const it = (title: string, body: (db: SqliteDatabase, file: string) => void) =>
    test(title, () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-driver-'));
      const file = path.join(dir, 'test.sqlite');
      const db = openSqlite(file);
      try {
        body(db, file);
      } finally {
        db.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

  it('opening creates the file', (_db, file) => {
    assert.ok(fs.existsSync(file));
  });

  it('waits 5 s for a lock held elsewhere, as better-sqlite3 does by default', (db) => {
    assert.equal(plain(db.prepare('PRAGMA busy_timeout').get()), { timeout: 5000 });
  });

  it('exec runs several statements', (db) => {
    db.exec('CREATE TABLE a (x INTEGER) STRICT; CREATE TABLE b (y TEXT) STRICT; INSERT INTO a VALUES (1);');
    assert.equal(plain(db.prepare('SELECT count(*) AS n FROM a').get()), { n: 1 });
    assert.equal(plain(db.prepare('SELECT count(*) AS n FROM b').get()), { n: 0 });
  });

  it('get answers undefined for no row, all an empty list', (db) => {
    db.exec('CREATE TABLE t (x INTEGER) STRICT');
    assert.is(db.prepare('SELECT x FROM t WHERE x = ?').get(1), undefined);
    assert.equal(db.prepare('SELECT x FROM t').all(), []);
  });

  it('run reports the changes and the last rowid, as numbers', (db) => {
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT) STRICT');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const first = insert.run('a');
    const second = insert.run('b');
    assert.is(first.changes, 1);
    assert.is(Number(first.lastInsertRowid), 1);
    assert.is(Number(second.lastInsertRowid), 2);
    const updated = db.prepare('UPDATE t SET v = ?').run('c');
    assert.is(updated.changes, 2);
    assert.type(updated.changes, 'number');
  });

  it('positional parameters of every seam type bind and read back', (db) => {
    const row = db.prepare('SELECT ? AS text, ? AS integer, ? AS real, ? AS big, ? AS absent').get('zoë 🚀', 42, 2.5, 10n, null);
    assert.equal(plain(row), { text: 'zoë 🚀', integer: 42, real: 2.5, big: 10, absent: null });
    assert.type(row?.big, 'number');
  });

  it('whole numbers and BigInts store as INTEGER in a STRICT column, and read back as numbers', (db) => {
    // How a number binds differs: better-sqlite3 and node:sqlite bind every JS number as REAL,
    // bun:sqlite a whole one as INTEGER (`SELECT typeof(?)` tells them apart). Every number the
    // platform binds goes into a STRICT INTEGER column or a comparison, where the two agree.
    db.exec('CREATE TABLE t (i INTEGER, r REAL) STRICT');
    db.prepare('INSERT INTO t VALUES (?, ?)').run(3, 3.5);
    db.prepare('INSERT INTO t VALUES (?, ?)').run(2n ** 40n, 1);
    db.prepare('INSERT INTO t VALUES (?, ?)').run(Number.MAX_SAFE_INTEGER, 0.25);
    assert.equal(plain(db.prepare('SELECT i, typeof(i) AS type, r FROM t ORDER BY rowid').all()), [
      { i: 3, type: 'integer', r: 3.5 },
      { i: 2 ** 40, type: 'integer', r: 1 },
      { i: Number.MAX_SAFE_INTEGER, type: 'integer', r: 0.25 },
    ]);
    assert.equal(plain(db.prepare('SELECT i FROM t WHERE i > ? AND i <= ? ORDER BY i').all(3, 2 ** 40)), [{ i: 2 ** 40 }]);
    assert.type(db.prepare('SELECT i FROM t WHERE i = ?').get(2n ** 40n)?.i, 'number');
  });

  it('values answers each row as an array in column order, and all still as objects', (db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data TEXT) STRICT; INSERT INTO t VALUES (1, 'a', '{}'), (2, 'b', NULL);");
    const select = db.prepare('SELECT data, id, name FROM t WHERE id >= ? ORDER BY id');
    assert.equal(plain(select.values(1)), [['{}', 1, 'a'], [null, 2, 'b']]);
    assert.equal(plain(select.all(2)), [{ data: null, id: 2, name: 'b' }]);
    assert.equal(select.values(3), []);
  });

  it('a negative LIMIT means no limit', (db) => {
    db.exec('CREATE TABLE t (x INTEGER) STRICT; INSERT INTO t VALUES (1), (2), (3);');
    assert.is(db.prepare('SELECT x FROM t ORDER BY x LIMIT ?').all(-1).length, 3);
    assert.is(db.prepare('SELECT x FROM t ORDER BY x LIMIT ?').all(0).length, 0);
  });

  it('a constraint failure throws with SQLite\'s own message, which the event store reads', (db) => {
    db.exec('CREATE TABLE events (stream_name TEXT, revision INTEGER, UNIQUE (stream_name, revision)) STRICT');
    const insert = db.prepare('INSERT INTO events VALUES (?, ?)');
    insert.run('s', 0);
    assert.throws(() => insert.run('s', 0), /UNIQUE constraint failed: events\.stream_name, events\.revision/);
  });

  it('BEGIN IMMEDIATE … ROLLBACK through exec undoes the writes', (db) => {
    db.exec('CREATE TABLE t (x INTEGER) STRICT');
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO t VALUES (?)').run(1);
    db.exec('ROLLBACK');
    assert.equal(plain(db.prepare('SELECT count(*) AS n FROM t').get()), { n: 0 });
  });

  it('a second connection sees committed writes; an exclusive lock is refused at once with busy_timeout 0', (db, file) => {
    db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER) STRICT; INSERT INTO t VALUES (7);');
    const other = openSqlite(file);
    try {
      assert.equal(plain(other.prepare('SELECT x FROM t').all()), [{ x: 7 }]);
      // The read-model lock (projections/read-model-store.ts) relies on this.
      db.exec('BEGIN EXCLUSIVE');
      other.exec('PRAGMA busy_timeout = 0');
      assert.throws(() => other.exec('BEGIN EXCLUSIVE'), /locked|busy/i);
      db.exec('ROLLBACK');
    } finally {
      other.close();
    }
  });

  test.run();
}
