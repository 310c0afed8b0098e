/**
 * The EventStoreDB adapter with no server behind it: the gRPC client is loaded and fails fast.
 * (The adapter's pure mappings are tested without the client in eventstoredb-mapping.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEventStoreDbStore } from '../src/adapters/event-store/eventstoredb.ts';

const unreachable = suite('eventstoredb: unreachable server');

unreachable('ping fails fast and clearly when nothing listens, and the store still closes', async () => {
  // Port 1 on loopback refuses connections at once: no server is needed to see the failure.
  const store = createEventStoreDbStore('esdb://127.0.0.1:1?tls=false');
  const started = Date.now();
  try {
    await store.ping();
    assert.unreachable('ping resolved with nothing listening');
  } catch (error) {
    assert.not.instance(error, assert.Assertion);
    assert.match((error as Error).message, /UNAVAILABLE|ECONNREFUSED/);
  } finally {
    await store.close();
  }
  assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
});

unreachable.run();
