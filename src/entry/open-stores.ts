import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createSqliteEventStore, openEventStoreDbStore } from '../adapters/event-store/index.ts';
import type { SqliteDatabase } from '../ports/sqlite.ts';
import type { Config } from '../config-type.ts';
import type { EventStore } from '../ports/event-store.ts';
import { lockReadModels } from '../../projections/read-model-store.ts';

/** Opens a SQLite file with the runtime's own driver (better-sqlite3, bun:sqlite, node:sqlite). */
export type OpenSqlite = (path: string) => SqliteDatabase;

/** EventStoreDB when FAASBOX_EVENTSTORE_URL is set, else the embedded SQLite store in the data dir. */
export async function openEventStore(config: Config, openSqlite: OpenSqlite): Promise<EventStore> {
  // The EventStoreDB adapter and its gRPC client are loaded only in this case.
  if (config.eventStoreUrl !== undefined) return openEventStoreDbStore(config.eventStoreUrl);
  mkdirSync(config.dataDir, { recursive: true });
  return createSqliteEventStore(openSqlite(join(config.dataDir, 'events.sqlite')));
}

export type ReadModelDatabase = { db: SqliteDatabase; close(): void };

/** This process's read-model database, locked against a second writer (see lockReadModels). */
export function openReadModelDatabase(config: Config, openSqlite: OpenSqlite): ReadModelDatabase {
  mkdirSync(dirname(config.projectionsPath), { recursive: true });
  const release = lockReadModels(openSqlite, config.projectionsPath);
  const db = openSqlite(config.projectionsPath);
  return {
    db,
    close() {
      db.close();
      release();
    },
  };
}
