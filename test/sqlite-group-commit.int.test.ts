/**
 * Group commit in the SQLite event store (src/adapters/event-store/sqlite.ts) on a real file:
 * appends made at once share one transaction, and an append that fails inside it, for whatever
 * reason, fails alone or takes the whole commit with it; never is an append acknowledged that
 * is not stored, nor one refused that is.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import type { EventStore, NewEvent } from '../src/ports/event-store.ts';
import type { SqliteDatabase } from '../src/ports/sqlite.ts';

const test = suite('sqlite group commit [real file]');

const event = (data: unknown = {}): NewEvent => ({ id: randomUUID(), type: 'Tested', data, metadata: { correlationId: 'group-commit' } });

/** A store over a fresh file, and the number of transactions committed on its connection. */
async function withStore(body: (store: EventStore, db: SqliteDatabase, commits: () => number) => Promise<void>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-group-commit-'));
  const db = openBetterSqlite3(path.join(dir, 'events.sqlite'));
  let commits = 0;
  const counted: SqliteDatabase = {
    ...db,
    prepare: (sql) => db.prepare(sql),
    close: () => db.close(),
    exec(sql) {
      db.exec(sql);
      if (sql === 'COMMIT') commits++;
    },
  };
  const store = createSqliteEventStore(counted);
  try {
    await body(store, db, () => commits);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Each append's outcome, and what the file holds of its stream afterwards. */
async function settle(store: EventStore, appends: { stream: string; events: NewEvent[] }[]) {
  const outcomes = await Promise.allSettled(appends.map(({ stream, events }) => store.append(stream, events, 'no_stream')));
  return Promise.all(
    appends.map(async ({ stream, events }, i) => ({
      acknowledged: outcomes[i]!.status === 'fulfilled',
      reason: outcomes[i]!.status === 'rejected' ? String((outcomes[i] as PromiseRejectedResult).reason) : null,
      stored: (await store.readStream(stream)).map((recorded) => recorded.id),
      ids: events.map((e) => e.id),
    })),
  );
}

test('sixteen appends made at once share one commit', () =>
  withStore(async (store, _db, commits) => {
    const before = commits();
    const results = await settle(store, Array.from({ length: 16 }, (_, i) => ({ stream: `s-${i}`, events: [event()] })));
    assert.ok(results.every((result) => result.acknowledged));
    assert.is(commits() - before, 1, 'one transaction, so one fsync, for all sixteen');
    // Appends one after the other still commit one by one: each answer waits for its own commit.
    await store.append('alone-1', [event()], 'no_stream');
    await store.append('alone-2', [event()], 'no_stream');
    assert.is(commits() - before, 3);
  }));

test('an event id stored before fails its own append only; the others in the commit are stored', () =>
  withStore(async (store) => {
    const reused = event();
    await store.append('first', [reused], 'no_stream');
    const results = await settle(store, [
      { stream: 'a', events: [event()] },
      { stream: 'dup', events: [event(), reused] },
      { stream: 'b', events: [event(), event()] },
    ]);
    assert.equal(results.map((r) => r.acknowledged), [true, false, true]);
    assert.match(results[1]!.reason!, /already stored/);
    assert.equal(results[1]!.stored, [], 'none of the refused append');
    assert.equal(results[0]!.stored, results[0]!.ids);
    assert.equal(results[2]!.stored, results[2]!.ids);
  }));

test('a full database mid-commit: what was acknowledged is stored, what was refused is not, and appends work again once there is room', () =>
  withStore(async (store, db) => {
    await store.append('warm-up', [event()], 'no_stream');
    const pages = Number(db.prepare('PRAGMA page_count').get()?.['page_count']);
    // Room for small events, not for a big one: SQLITE_FULL in the middle of the batch.
    db.exec(`PRAGMA max_page_count = ${pages + 4}`);
    const results = await settle(store, [
      { stream: 'small-1', events: [event()] },
      { stream: 'big', events: [event({ blob: 'x'.repeat(256 * 1024) })] },
      { stream: 'small-2', events: [event()] },
    ]);
    assert.is(results[1]!.acknowledged, false, 'the event that does not fit is refused');
    assert.match(results[1]!.reason!, /full/i);
    for (const result of results) {
      assert.equal(result.stored, result.acknowledged ? result.ids : [], 'stored exactly when acknowledged');
    }
    db.exec('PRAGMA max_page_count = 1073741823');
    await store.append('after', [event({ blob: 'x'.repeat(256 * 1024) })], 'no_stream');
    assert.is((await store.readStream('after')).length, 1);
  }));

test.run();
