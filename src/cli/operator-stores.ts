import { existsSync } from 'node:fs';
import { openBetterSqlite3 } from '../adapters/sqlite/better-sqlite3-driver.ts';
import type { Config } from '../config-type.ts';
import { openEventStore } from '../entry/open-stores.ts';
import type { EventStore } from '../ports/event-store.ts';
import { UsageError } from './usage-error.ts';

// How the operator commands reach the api's stores: the same FAASBOX_* variables find them.

export async function withStore<T>(config: Config, work: (store: EventStore) => Promise<T>): Promise<T> {
  const store = await openEventStore(config, openBetterSqlite3);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Reading needs no lock: the api may be running and writing meanwhile (WAL lets both). */
export function openExistingReadModels(config: Config) {
  if (!existsSync(config.projectionsPath)) {
    throw new UsageError(`no read models at ${config.projectionsPath} (FAASBOX_PROJECTIONS_PATH): has the api run here?`);
  }
  return openBetterSqlite3(config.projectionsPath);
}
