import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import { type FunctionDefinition, type FunctionEvent, minWarmOf } from '../src/domain/functions.ts';
import { streamPrefixes } from '../src/domain/streams.ts';
import type { UserEvent } from '../src/domain/users.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

export type FunctionsProjection = Projection & {
  get(functionId: string): FunctionDefinition | undefined;
  /** The owner's live functions, newest first. */
  listByOwner(ownerId: string): FunctionDefinition[];
  countByOwner(ownerId: string): number;
  /** Every live function whose owner asked for pre-started containers (minWarm > 0). */
  withMinWarm(): FunctionDefinition[];
};

export function createFunctionsProjection(db: SqliteDatabase): FunctionsProjection {
  db.exec(`
    CREATE TABLE IF NOT EXISTS functions (
      id         TEXT PRIMARY KEY,
      owner_id   TEXT NOT NULL,
      position   INTEGER NOT NULL,
      definition TEXT NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS functions_by_owner ON functions (owner_id, position);
    CREATE TABLE IF NOT EXISTS deleted_owners (owner_id TEXT PRIMARY KEY) STRICT;
  `);
  const ownerDeleted = db.prepare('SELECT 1 FROM deleted_owners WHERE owner_id = ?');
  const insert = db.prepare('INSERT OR IGNORE INTO functions (id, owner_id, position, definition) VALUES (?, ?, ?, ?)');
  const remove = db.prepare('DELETE FROM functions WHERE id = ?');
  const update = db.prepare('UPDATE functions SET definition = ? WHERE id = ?');
  const markOwnerDeleted = db.prepare('INSERT OR IGNORE INTO deleted_owners (owner_id) VALUES (?)');
  const removeOwned = db.prepare('DELETE FROM functions WHERE owner_id = ?');
  const select = db.prepare('SELECT definition FROM functions WHERE id = ?');
  const selectOwned = db.prepare('SELECT definition FROM functions WHERE owner_id = ? ORDER BY position DESC');
  const countOwned = db.prepare('SELECT count(*) AS n FROM functions WHERE owner_id = ?');
  // A text match narrows without SQLite's JSON functions (not every runtime's driver has them).
  const selectMaybeWarm = db.prepare(`SELECT definition FROM functions WHERE definition LIKE '%"minWarm":%'`);

  return {
    name: 'functions',
    version: 1,
    streamPrefixes: [streamPrefixes.function, streamPrefixes.user],
    tables: ['functions', 'deleted_owners'],
    apply(recorded: RecordedEvent) {
      const event = recorded as unknown as (FunctionEvent | UserEvent) & RecordedEvent;
      switch (event.type) {
        case 'FunctionCreated': {
          const definition = event.data;
          // A function created in the instant its owner was being deleted must not outlive the owner.
          if (ownerDeleted.get(definition.ownerId) !== undefined) return;
          insert.run(definition.functionId, definition.ownerId, recorded.position, JSON.stringify(definition));
          return;
        }
        case 'FunctionUpdated':
        case 'FunctionRolledBack':
          // The current version; the list keeps the function where its creation put it.
          update.run(JSON.stringify(event.data), event.data.functionId);
          return;
        case 'FunctionDeleted':
          remove.run(event.data.functionId);
          return;
        case 'UserDeleted':
          markOwnerDeleted.run(event.data.userId);
          removeOwned.run(event.data.userId);
          return;
      }
    },
    get(functionId) {
      const row = select.get(functionId);
      return row === undefined ? undefined : (JSON.parse(String(row.definition)) as FunctionDefinition);
    },
    listByOwner: (ownerId) =>
      selectOwned.all(ownerId).map((row) => JSON.parse(String(row.definition)) as FunctionDefinition),
    countByOwner: (ownerId) => Number(countOwned.get(ownerId)?.n ?? 0),
    withMinWarm: () =>
      selectMaybeWarm
        .all()
        .map((row) => JSON.parse(String(row.definition)) as FunctionDefinition)
        .filter((definition) => minWarmOf(definition) > 0),
  };
}
