/**
 * The EventStore adapters: memory (unit tests), SQLite (the embedded default) and EventStoreDB
 * (production), the last one loaded only when opened.
 */
import type { EventStore } from '../../ports/event-store.ts';

export { createMemoryEventStore } from './memory.ts';
export { createSqliteEventStore } from './sqlite.ts';

/**
 * A specifier in a variable keeps the module out of `deno check`: the client brings its own
 * @types/node 16, whose globals clash with Node 20's in one program (tsc reads only the
 * top-level copy; deno check loads both). Deduplicating @types/node would lift this. So this
 * door must never name eventstoredb.ts statically, not even for its types.
 */
const EVENTSTOREDB_ADAPTER: string = './eventstoredb.ts';
type EventStoreDbAdapter = { createEventStoreDbStore(connectionString: string): EventStore };

/**
 * The EventStoreDB store, its adapter loaded now: the gRPC client is heavy, and the embedded
 * default never needs it.
 */
export async function openEventStoreDbStore(connectionString: string): Promise<EventStore> {
  const { createEventStoreDbStore } = (await import(EVENTSTOREDB_ADAPTER)) as EventStoreDbAdapter;
  return createEventStoreDbStore(connectionString);
}
