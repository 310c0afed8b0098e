/**
 * The EventStore contract (test/support/event-store-contract.ts) for every adapter under Node.
 * To add one, push one entry onto `adapters`; EventStoreDB joins when FAASBOX_EVENTSTORE_URL
 * names a server. The SQLite adapter on Bun's and Deno's drivers: event-store-sqlite-drivers.
 */
import { createEventStoreDbStore } from '../src/adapters/event-store/eventstoredb.ts';
import { createMemoryEventStore } from '../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import { type AdapterUnderTest, defineEventStoreContract, sqliteAdapterUnderTest } from './support/event-store-contract.ts';

const adapters: AdapterUnderTest[] = [
  {
    name: 'memory',
    embedded: true,
    async open({ now }) {
      const store = createMemoryEventStore({ now });
      return { store, dispose: () => store.close() };
    },
  },
  sqliteAdapterUnderTest('sqlite', openBetterSqlite3),
];

const eventStoreUrl = process.env.FAASBOX_EVENTSTORE_URL;
if (eventStoreUrl) {
  adapters.push({
    name: 'eventstoredb',
    embedded: false,
    // The server keeps what every test wrote; the suite gives each test streams of its own.
    async open() {
      const store = createEventStoreDbStore(eventStoreUrl);
      return { store, dispose: () => store.close() };
    },
  });
} else {
  process.stderr.write(
    [
      '',
      '!!! EventStoreDB adapter NOT exercised: FAASBOX_EVENTSTORE_URL is not set (no EventStoreDB server',
      '!!! can run on this machine); the contract ran for memory and sqlite only. CI runs it against a',
      "!!! server: .github/workflows/eventstoredb.yml (FAASBOX_EVENTSTORE_URL='esdb://localhost:2113?tls=false').",
      '',
    ].join('\n'),
  );
}

for (const adapter of adapters) defineEventStoreContract(adapter);
