/**
 * The projection runner on real SQLite files: checkpoints move with the rows, a read model whose
 * version changed is rebuilt alone, and read-your-writes waits for the commit.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import type { EventStore, NewEvent } from '../src/ports/event-store.ts';
import { createReadModels } from '../projections/read-models.ts';
import { readCheckpoint } from '../projections/read-model-store.ts';
import { digestProjection } from '../src/cli/projection-digest.ts';
import { startProjections } from '../projections/runner.ts';
import { tempDir } from './support/server-process.ts';

const runner = suite('projection runner');

const event = (type: string, data: unknown): NewEvent => ({
  id: crypto.randomUUID(),
  type,
  data,
  metadata: { correlationId: 'runner-test' },
});

async function registerUsers(store: EventStore, count: number) {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const userId = crypto.randomUUID();
    const at = new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString();
    await store.append(
      `user-${userId}`,
      [
        event('UserRegistered', { userId, email: `u${i}@example.com`, passwordHash: 'x', registeredAt: at }),
        event('TokenIssued', { jti: `jti-${i}`, issuedAt: at, expiresAt: '2031-01-01T00:00:00.000Z' }),
      ],
      'no_stream',
    );
    ids.push(userId);
  }
  return ids;
}

runner('a restart resumes at the checkpoint; a read model of a new version is rebuilt alone', async () => {
  const dir = tempDir();
  const store = createSqliteEventStore(openBetterSqlite3(join(dir, 'events.sqlite')));
  const path = join(dir, 'projections.sqlite');
  const ids = await registerUsers(store, 50);

  let db = openBetterSqlite3(path);
  let models = createReadModels(db);
  let run = await startProjections(store, db, models.all);
  await run.ready;
  assert.is(run.startedFrom, 0);
  assert.is(run.applied, 100);
  await run.stop();
  const digest = digestProjection(db, models.users);
  db.close();

  await registerUsers(store, 5);
  db = openBetterSqlite3(path);
  models = createReadModels(db);
  run = await startProjections(store, db, models.all);
  await run.ready;
  assert.is(run.startedFrom, 100, 'resumed at the checkpoint');
  assert.is(run.applied, 10, 'only the new events');
  assert.ok(models.users.hasToken(ids[0]!, 'jti-0'));
  await run.stop();
  db.close();

  // A new version of one read model: it is emptied and replayed; the others skip what they have.
  db = openBetterSqlite3(path);
  models = createReadModels(db);
  const users = { ...models.users, version: models.users.version + 1 };
  const functionsBefore = readCheckpoint(db, 'functions');
  run = await startProjections(store, db, [users, models.functions]);
  await run.ready;
  assert.is(run.startedFrom, 0);
  assert.equal(readCheckpoint(db, 'users'), { position: 110, version: users.version });
  assert.equal(readCheckpoint(db, 'functions'), functionsBefore);
  assert.is(models.users.get(ids[49]!)?.email, 'u49@example.com');
  await run.stop();
  assert.is.not(digestProjection(db, models.users), digest, 'five more users');
  db.close();
  await store.close();
});

runner('far behind, it catches up tuned for large batches, then goes back to the live settings', async () => {
  const dir = tempDir();
  const store = createSqliteEventStore(openBetterSqlite3(join(dir, 'events.sqlite')));
  // 12 000 logins of one user: past the point where the runner tunes the database for catching up.
  const [userId] = await registerUsers(store, 1);
  for (let batch = 0; batch < 120; batch++) {
    const logins = Array.from({ length: 100 }, (_, i) =>
      event('TokenIssued', { jti: `jti-${batch}-${i}`, issuedAt: '2030-01-01T00:00:00.000Z', expiresAt: '2031-01-01T00:00:00.000Z' }),
    );
    await store.append(`user-${userId}`, logins, 'stream_exists');
  }
  const db = openBetterSqlite3(join(dir, 'projections.sqlite'));
  const models = createReadModels(db);
  const pragma = (name: string) => db.prepare(`PRAGMA ${name}`).get()?.[name];
  const liveCacheSize = pragma('cache_size');
  const run = await startProjections(store, db, models.all);
  assert.is(pragma('wal_autocheckpoint'), 100_000, 'tuned while catching up');
  await run.ready;
  assert.is(run.applied, 12_002);
  assert.ok(models.users.hasToken(userId!, 'jti-119-99'));
  assert.is(pragma('wal_autocheckpoint'), 1_000, 'live again once caught up');
  assert.is(pragma('cache_size'), liveCacheSize);
  assert.is(statSync(join(dir, 'projections.sqlite-wal')).size, 0, 'the log was checkpointed and truncated');
  await run.stop();
  db.close();
  await store.close();
});

runner('waitFor resolves once the event is committed, and false when the time runs out', async () => {
  const dir = tempDir();
  const store = createSqliteEventStore(openBetterSqlite3(join(dir, 'events.sqlite')));
  const db = openBetterSqlite3(join(dir, 'projections.sqlite'));
  const models = createReadModels(db);
  const run = await startProjections(store, db, models.all);
  const [userId] = await registerUsers(store, 1);
  const [last] = await store.readAll({ direction: 'backwards', maxCount: 1 });
  assert.ok(await run.waitFor(last!.position, 5_000));
  assert.is(models.users.get(userId!)?.email, 'u0@example.com');
  assert.is(readCheckpoint(db, 'users')?.position, last!.position, 'the checkpoint was committed with the rows');
  assert.is(await run.waitFor(last!.position + 1, 50), false);
  await run.stop();
  db.close();
  await store.close();
});

runner.run();
