import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createSqliteEventStore } from '../adapters/event-store/sqlite.ts';
import type { SqliteDatabase } from '../adapters/sqlite/driver.ts';
import type { Config } from '../config.ts';
import type { EventStore } from '../ports/event-store.ts';
import { lockReadModels } from '../../projections/read-model-store.ts';

const EVENTSTOREDB_ADAPTER: string = '../adapters/event-store/eventstoredb.ts';
type EventStoreDbAdapter = { createEventStoreDbStore(connectionString: string): EventStore };

/** Opens a SQLite file with the runtime's own driver (better-sqlite3, bun:sqlite, node:sqlite). */
export type OpenSqlite = (path: string) => SqliteDatabase;

/** EventStoreDB when FAASBOX_EVENTSTORE_URL is set, else the embedded SQLite store in the data dir. */
export async function openEventStore(config: Config, openSqlite: OpenSqlite): Promise<EventStore> {
  if (config.eventStoreUrl !== undefined) {
    // Loaded only when used: the gRPC client is heavy, and the embedded default never needs it.
    // A specifier in a variable keeps the module out of `deno check`: the client brings its own
    // @types/node 16, whose globals clash with Node 20's in one program (tsc reads only the
    // top-level copy; deno check loads both). Deduplicating @types/node would lift this.
    const { createEventStoreDbStore } = (await import(EVENTSTOREDB_ADAPTER)) as EventStoreDbAdapter;
    return createEventStoreDbStore(config.eventStoreUrl);
  }
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
