/**
 * The EventStore contract: what every adapter promises, defined once. test/event-store.contract
 * runs it for each adapter under Node; test/support/runtimes/ run it for the SQLite adapter on
 * Bun's and Deno's own drivers, under those runtimes.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../../src/adapters/event-store/index.ts';
import type { SqliteDatabase } from '../../src/ports/sqlite.ts';
import {
  type EventStore,
  type NewEvent,
  type RecordedEvent,
  WrongExpectedRevisionError,
} from '../../src/ports/event-store.ts';

export type AdapterUnderTest = {
  name: string;
  /** A store to test against; `dispose` closes it and removes whatever it left behind. */
  open(options: { now: () => Date }): Promise<{ store: EventStore; dispose(): Promise<void> }>;
  /**
   * An embedded store starts empty, numbers events 1, 2, 3… and stamps them with the `now` it
   * was given. A server (EventStoreDB) does none of these, so the tests that rely on them run
   * only for embedded stores; every other test holds for any store.
   */
  embedded: boolean;
};

/** The SQLite adapter over a fresh file in a temporary directory, opened with `openSqlite`. */
export function sqliteAdapterUnderTest(name: string, openSqlite: (path: string) => SqliteDatabase): AdapterUnderTest {
  return {
    name,
    embedded: true,
    async open({ now }) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-contract-'));
      // A poll longer than any test, so live delivery seen here can only come from the
      // in-process wake-up; polling is covered by sqlite-durability.int.test.ts.
      const store = createSqliteEventStore(openSqlite(path.join(dir, 'events.sqlite')), {
        now,
        pollIntervalMs: 60_000,
      });
      return {
        store,
        async dispose() {
          await store.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

type Given = {
  store: EventStore;
  /** A stream name of this category that no other test (or earlier run on a server) used. */
  stream(category: string): string;
  setTime(time: Date): void;
};

const newEvent = (data: unknown = {}, type = 'Tested'): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { correlationId: 'correlation-1' },
});
const newEvents = (count: number): NewEvent[] => Array.from({ length: count }, (_, i) => newEvent({ i }));
const idsOf = (events: readonly { id: string }[]) => events.map((event) => event.id);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function conflictOf(append: Promise<unknown>): Promise<WrongExpectedRevisionError> {
  try {
    await append;
  } catch (error) {
    if (error instanceof WrongExpectedRevisionError) return error;
    throw error;
  }
  throw new assert.Assertion({
    message: 'expected WrongExpectedRevisionError, the append succeeded',
    operator: 'conflictOf',
    expects: WrongExpectedRevisionError,
    actual: undefined,
  });
}

function assertConflict(
  error: WrongExpectedRevisionError,
  expected: { streamName: string; expected: unknown; actual: number | 'no_stream' },
) {
  assert.equal(
    { streamName: error.streamName, expected: error.expected, actual: error.actual },
    expected,
    'conflict details',
  );
}

/** Defines and runs (uvu's `run()`) the whole contract for one adapter. */
export function defineEventStoreContract(adapter: AdapterUnderTest) {
  const test = suite(`event-store contract [${adapter.name}]`);

  // A fresh store per test, opened and disposed inside the test: uvu swallows hook errors.
  const it = (name: string, body: (given: Given) => Promise<void>) =>
    test(name, async () => {
      let time = new Date('2030-01-02T03:04:05.678Z');
      const { store, dispose } = await adapter.open({ now: () => time });
      const run = randomUUID().slice(0, 8);
      try {
        await body({
          store,
          stream: (category) => `${category}-${run}`,
          setTime: (next) => {
            time = next;
          },
        });
      } finally {
        await dispose();
      }
    });
  const itEmbedded = adapter.embedded ? it : () => {};

  // ── expected revisions ────────────────────────────────────────────────────────────────────

  it("'no_stream' creates a stream and conflicts once it exists", async ({ store, stream }) => {
    const order = stream('order');
    const created = await store.append(order, [newEvent(), newEvent()], 'no_stream');
    assert.is(created.nextRevision, 1);

    const error = await conflictOf(store.append(order, [newEvent()], 'no_stream'));
    assertConflict(error, { streamName: order, expected: 'no_stream', actual: 1 });
    assert.is((await store.readStream(order)).length, 2, 'the conflicting event was not written');
  });

  it("'stream_exists' conflicts on a missing stream and appends to an existing one", async ({ store, stream }) => {
    const order = stream('order');
    const error = await conflictOf(store.append(order, [newEvent()], 'stream_exists'));
    assertConflict(error, { streamName: order, expected: 'stream_exists', actual: 'no_stream' });
    assert.equal(await store.readStream(order), []);

    await store.append(order, [newEvent()], 'no_stream');
    const appended = await store.append(order, [newEvent()], 'stream_exists');
    assert.is(appended.nextRevision, 1);
  });

  it("'any' appends whether or not the stream exists", async ({ store, stream }) => {
    const order = stream('order');
    assert.is((await store.append(order, [newEvent()], 'any')).nextRevision, 0);
    assert.is((await store.append(order, [newEvent(), newEvent()], 'any')).nextRevision, 2);
    assert.is((await store.readStream(order)).length, 3);
  });

  it('an exact revision appends only when it is the last revision of the stream', async ({ store, stream }) => {
    const order = stream('order');
    const missing = await conflictOf(store.append(order, [newEvent()], 0));
    assertConflict(missing, { streamName: order, expected: 0, actual: 'no_stream' });

    await store.append(order, [newEvent(), newEvent()], 'no_stream');
    assert.is((await store.append(order, [newEvent()], 1)).nextRevision, 2);

    const behind = await conflictOf(store.append(order, [newEvent(), newEvent()], 1));
    assertConflict(behind, { streamName: order, expected: 1, actual: 2 });
    const ahead = await conflictOf(store.append(order, [newEvent()], 7));
    assertConflict(ahead, { streamName: order, expected: 7, actual: 2 });
    assert.equal(
      (await store.readStream(order)).map((event) => event.revision),
      [0, 1, 2],
      'no event of a conflicting batch was written',
    );
  });

  it('an empty append checks the expectation, writes nothing and reports the stream as it is', async ({
    store,
    stream,
  }) => {
    const order = stream('order');
    assert.is((await store.append(order, [], 'no_stream')).nextRevision, -1);
    assert.equal(await store.readStream(order), []);

    const written = await store.append(order, [newEvent(), newEvent()], 'no_stream');
    assert.equal(await store.append(order, [], 1), written);
    assert.equal(await store.append(order, [], 'stream_exists'), written);
    const error = await conflictOf(store.append(order, [], 0));
    assertConflict(error, { streamName: order, expected: 0, actual: 1 });
    assert.is((await store.readStream(order)).length, 2);
  });

  // ── revisions and positions ───────────────────────────────────────────────────────────────

  it('revisions count from 0 per stream; positions increase across streams', async ({ store, stream }) => {
    const order = stream('order');
    const invoice = stream('invoice');
    const first = await store.append(order, [newEvent(), newEvent()], 'no_stream');
    const second = await store.append(invoice, [newEvent()], 'no_stream');
    const third = await store.append(order, [newEvent()], 1);

    const orders = await store.readStream(order);
    const invoices = await store.readStream(invoice);
    assert.equal(orders.map((event) => event.revision), [0, 1, 2]);
    assert.equal(invoices.map((event) => event.revision), [0]);

    const positions = [orders[0], orders[1], invoices[0], orders[2]].map((event) => event?.position ?? NaN);
    assert.ok(positions[0]! > 0, 'positions start above 0');
    for (let i = 1; i < positions.length; i++) assert.ok(positions[i]! > positions[i - 1]!, `${positions}`);

    assert.equal(first, { nextRevision: 1, position: positions[1] });
    assert.equal(second, { nextRevision: 0, position: positions[2] });
    assert.equal(third, { nextRevision: 2, position: positions[3] });
  });

  itEmbedded('global positions are 1, 2, 3… in append order, from an empty log', async ({ store, stream }) => {
    assert.equal(await store.readAll(), []);
    const a = await store.append(stream('a'), newEvents(2), 'no_stream');
    const b = await store.append(stream('b'), newEvents(1), 'no_stream');
    assert.equal([a.position, b.position], [2, 3]);
    assert.equal((await store.readAll()).map((event) => event.position), [1, 2, 3]);
  });

  // ── reading ───────────────────────────────────────────────────────────────────────────────

  it('readStream reads forwards by default and backwards from the end', async ({ store, stream }) => {
    const order = stream('order');
    const events = newEvents(5);
    await store.append(order, events, 'no_stream');
    assert.equal(idsOf(await store.readStream(order)), idsOf(events));
    assert.equal(idsOf(await store.readStream(order, { direction: 'backwards' })), idsOf(events).reverse());
  });

  it('readStream starts at fromRevision (inclusive) and stops after maxCount', async ({ store, stream }) => {
    const order = stream('order');
    await store.append(order, newEvents(5), 'no_stream');
    const revisions = async (options: Parameters<EventStore['readStream']>[1]) =>
      (await store.readStream(order, options)).map((event) => event.revision);

    assert.equal(await revisions({ fromRevision: 2 }), [2, 3, 4]);
    assert.equal(await revisions({ fromRevision: 2, direction: 'backwards' }), [2, 1, 0]);
    assert.equal(await revisions({ maxCount: 2 }), [0, 1]);
    assert.equal(await revisions({ direction: 'backwards', maxCount: 1 }), [4]);
    assert.equal(await revisions({ fromRevision: 3, maxCount: 10 }), [3, 4]);
    assert.equal(await revisions({ fromRevision: 1, direction: 'backwards', maxCount: 1 }), [1]);
    assert.equal(await revisions({ fromRevision: 5 }), []);
    assert.equal(await revisions({ maxCount: 0 }), []);
  });

  it('readStream of a missing stream is empty', async ({ store, stream }) => {
    await store.append(stream('order'), newEvents(1), 'no_stream');
    assert.equal(await store.readStream(stream('missing')), []);
    assert.equal(await store.readStream(stream('missing'), { direction: 'backwards', maxCount: 1 }), []);
  });

  it('readAll returns events strictly after a position, in global order, up to maxCount', async ({
    store,
    stream,
  }) => {
    const [a, b] = [stream('a'), stream('b')];
    await store.append(a, newEvents(1), 'no_stream');
    await store.append(b, newEvents(2), 'no_stream');
    await store.append(a, newEvents(2), 0);
    const [first, ...rest] = [...(await store.readStream(a)), ...(await store.readStream(b))].sort(
      (x, y) => x.position - y.position,
    );
    assert.ok(first);
    assert.equal(
      (await store.readAll({ after: first.position })).map((event) => [event.streamName, event.revision]),
      [
        [b, 0],
        [b, 1],
        [a, 1],
        [a, 2],
      ],
    );
    assert.equal(idsOf(await store.readAll({ after: first.position, maxCount: 2 })), idsOf(rest.slice(0, 2)));
    const last = rest.at(-1)!;
    assert.equal(await store.readAll({ after: last.position }), []);
    assert.equal(idsOf(await store.readAll({ direction: 'backwards', maxCount: 1 })), [last.id], 'the head');
  });

  // ── idempotency ───────────────────────────────────────────────────────────────────────────

  it('a retried append returns the earlier result and writes nothing', async ({ store, stream }) => {
    const order = stream('order');
    const batch = newEvents(2);
    const first = await store.append(order, batch, 'no_stream');
    const retried = await store.append(order, batch, 'no_stream');
    assert.equal(retried, first);
    assert.equal(idsOf(await store.readStream(order)), idsOf(batch), 'no duplicate');
  });

  it('a retry after the stream moved on still returns the earlier result', async ({ store, stream }) => {
    const order = stream('order');
    const batch = newEvents(2);
    const first = await store.append(order, batch, 'no_stream');
    const later = await store.append(order, [newEvent()], 1);
    assert.equal(await store.append(order, batch, 'no_stream'), first, 'not a conflict, not the latest');
    assert.equal(await store.append(order, batch, 'any'), first);
    const stored = await store.readStream(order);
    assert.is(stored.length, 3);
    assert.is(stored.at(-1)?.position, later.position);
  });

  it('an append whose first event alone was stored is a conflict, not a retry: the rest is not dropped', async ({ store, stream }) => {
    const execution = stream('execution');
    const [started, outcome] = newEvents(2);
    await store.append(execution, [started!], 'no_stream');
    assert.is((await conflictOf(store.append(execution, [started!, outcome!], 'no_stream'))).actual, 0);
    assert.equal(idsOf(await store.readStream(execution)), [started!.id], 'nothing more, nothing twice');
  });

  // ── concurrency ───────────────────────────────────────────────────────────────────────────

  it('concurrent appends at the same expected revision: exactly one wins', async ({ store, stream }) => {
    const slots = stream('slots');
    await store.append(slots, [newEvent()], 'no_stream');
    const contenders = newEvents(10);
    const outcomes = await Promise.allSettled(contenders.map((event) => store.append(slots, [event], 0)));

    const winners = contenders.filter((_, i) => outcomes[i]?.status === 'fulfilled');
    assert.is(winners.length, 1, 'exactly one append succeeds');
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') continue;
      assert.instance(outcome.reason, WrongExpectedRevisionError);
      assert.is((outcome.reason as WrongExpectedRevisionError).actual, 1);
    }
    const stored = await store.readStream(slots);
    assert.equal(
      stored.map((event) => event.revision),
      [0, 1],
    );
    assert.is(stored[1]?.id, winners[0]?.id, 'the stored event is the winner');
  });

  it('concurrent appends to many streams each land at their own revision; those that conflict leave the others', async ({
    store,
    stream,
  }) => {
    const streams = Array.from({ length: 16 }, (_, i) => stream(`writer${i}`));
    const taken = stream('taken');
    await store.append(taken, [newEvent()], 'no_stream');

    const appends = [
      ...streams.map((name) => store.append(name, newEvents(2), 'no_stream')),
      store.append(taken, [newEvent()], 'no_stream'), // a conflict
      store.append(stream('missing'), [newEvent()], 'stream_exists'), // a conflict on a missing stream
    ];
    const outcomes = await Promise.allSettled(appends);

    const written = outcomes.slice(0, streams.length);
    assert.ok(written.every((outcome) => outcome.status === 'fulfilled'), 'every writer of its own stream succeeds');
    const positions = written.map((outcome) => (outcome as PromiseFulfilledResult<{ position: number }>).value.position);
    assert.is(new Set(positions).size, positions.length, 'each append has its own position');
    for (const name of streams) assert.equal((await store.readStream(name)).map((event) => event.revision), [0, 1]);
    assert.instance((outcomes[streams.length] as PromiseRejectedResult).reason, WrongExpectedRevisionError);
    assert.is((await store.readStream(taken)).length, 1, 'the conflicting append wrote nothing');
    assert.instance((outcomes[streams.length + 1] as PromiseRejectedResult).reason, WrongExpectedRevisionError);
    assert.equal(await store.readStream(stream('missing')), [], 'nor did the other');
  });

  // ── what is stored ────────────────────────────────────────────────────────────────────────

  it('data and metadata round-trip: nested JSON, unicode, optional causation id', async ({ store, stream }) => {
    const order = stream('order');
    const data = {
      name: 'Zoë “quoted” \\ back\nslash',
      emoji: '🚀👩🏽‍💻',
      scripts: ['日本語', 'עברית', 'Ελληνικά'],
      nested: { deeper: { list: [1, 2.5, -3e10, true, false, null, { empty: {} }] } },
      nothing: null,
      zero: 0,
      text: '',
    };
    const withCause = { ...newEvent(data, 'OrderPlaced'), metadata: { correlationId: 'c-ü', causationId: 'cause-1' } };
    const scalar = newEvent('just a string', 'Noted');
    const list = newEvent([1, 'two', { three: 3 }], 'Listed');
    await store.append(order, [withCause, scalar, list], 'no_stream');

    const [a, b, c] = await store.readStream(order);
    assert.equal(
      [a, b, c].map((event) => event && { id: event.id, type: event.type, data: event.data, metadata: event.metadata }),
      [withCause, scalar, list].map(({ id, type, data, metadata }) => ({ id, type, data, metadata })),
    );
    assert.is(b?.streamName, order);
    assert.not.ok(b && 'causationId' in b.metadata, 'an absent causation id stays absent');
  });

  it('mutating what was appended or read does not change history', async ({ store, stream }) => {
    const order = stream('order');
    const event = newEvent({ items: ['a'] });
    await store.append(order, [event], 'no_stream');
    (event.data as { items: string[] }).items.push('appended-later');
    const [read] = await store.readStream(order);
    (read?.data as { items: string[] }).items.push('read-later');
    assert.equal((await store.readStream(order))[0]?.data, { items: ['a'] });
  });

  it('recordedAt is an ISO 8601 time', async ({ store, stream }) => {
    const order = stream('order');
    await store.append(order, [newEvent()], 'no_stream');
    const [event] = await store.readStream(order);
    assert.ok(event);
    assert.is(new Date(event.recordedAt).toISOString(), event.recordedAt);
  });

  itEmbedded("recordedAt is the store clock's time of the append", async ({ store, stream, setTime }) => {
    const order = stream('order');
    setTime(new Date('2031-05-06T07:08:09.010Z'));
    await store.append(order, newEvents(2), 'no_stream');
    setTime(new Date('2031-05-06T07:08:10.000Z'));
    await store.append(order, newEvents(1), 1);
    assert.equal(
      (await store.readStream(order)).map((event) => event.recordedAt),
      ['2031-05-06T07:08:09.010Z', '2031-05-06T07:08:09.010Z', '2031-05-06T07:08:10.000Z'],
    );
  });

  // ── subscriptions ─────────────────────────────────────────────────────────────────────────

  it('subscribeToAll catches up after a position, then follows live appends in order', async ({ store, stream }) => {
    const [a, b] = [stream('a'), stream('b')];
    const start = await store.append(a, [newEvent()], 'no_stream');
    const history = newEvents(2);
    await store.append(b, history, 'no_stream');

    const seen: RecordedEvent[] = [];
    const subscription = store.subscribeToAll((event) => void seen.push(event), { after: start.position });
    await eventually(() => seen.length === 2, 'catch-up');
    assert.equal(idsOf(seen), idsOf(history), 'the event at `after` itself is not delivered');

    const live = [newEvent(), newEvent(), newEvent()];
    await store.append(a, [live[0]!], 0);
    await store.append(b, [live[1]!, live[2]!], 1);
    await eventually(() => seen.length === 5, 'live events');
    assert.equal(idsOf(seen), idsOf([...history, ...live]));
    assert.equal(seen, await store.readAll({ after: start.position }), 'the same events readAll returns');
    await subscription.close();
  });

  it('subscribeToAll catches up across many pages', async ({ store, stream }) => {
    const start = await store.append(stream('marker'), [newEvent()], 'no_stream');
    const bulk = stream('bulk');
    await store.append(bulk, newEvents(600), 'no_stream');
    await store.append(bulk, newEvents(601), 599);

    const revisions: number[] = [];
    const subscription = store.subscribeToAll((event) => void revisions.push(event.revision), {
      after: start.position,
    });
    await eventually(() => revisions.length >= 1201, 'catch-up of 1201 events');
    await sleep(20);
    assert.is(revisions.length, 1201, 'nothing delivered twice');
    assert.ok(
      revisions.every((revision, i) => revision === i),
      'in order',
    );
    await subscription.close();
  });

  it('an async handler is awaited: one call at a time, in order', async ({ store, stream }) => {
    const order = stream('order');
    const start = await store.append(stream('marker'), [newEvent()], 'no_stream');
    await store.append(order, newEvents(3), 'no_stream');

    let running = 0;
    let mostAtOnce = 0;
    const revisions: number[] = [];
    const subscription = store.subscribeToAll(
      async (event) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        await sleep(5);
        revisions.push(event.revision);
        running--;
      },
      { after: start.position },
    );
    await store.append(order, newEvents(2), 2);
    await eventually(() => revisions.length === 5, 'five events');
    assert.is(mostAtOnce, 1);
    assert.equal(revisions, [0, 1, 2, 3, 4]);
    await subscription.close();
  });

  it('streamPrefixes delivers only streams that start with a prefix, live as well', async ({ store, stream }) => {
    const [user, fn, execution, users] = [stream('user'), stream('function'), stream('execution'), stream('userx')];
    const start = await store.append(execution, [newEvent()], 'no_stream');
    await store.append(user, newEvents(1), 'no_stream');
    await store.append(users, newEvents(1), 'no_stream');
    await store.append(fn, newEvents(1), 'no_stream');

    const seen: string[] = [];
    const subscription = store.subscribeToAll((event) => void seen.push(`${event.streamName}@${event.revision}`), {
      after: start.position,
      streamPrefixes: ['user-', 'function-'],
    });
    await eventually(() => seen.length === 2, 'catch-up of matching streams');

    await store.append(execution, newEvents(3), 0);
    await store.append(user, newEvents(1), 0);
    await eventually(() => seen.length === 3, 'a live matching event after skipped ones');
    await sleep(20);
    assert.equal(seen, [`${user}@0`, `${fn}@0`, `${user}@1`]);
    await subscription.close();
  });

  it('a throwing handler fails the subscription, and delivery stops', async ({ store, stream }) => {
    const order = stream('order');
    const start = await store.append(stream('marker'), [newEvent()], 'no_stream');
    await store.append(order, newEvents(3), 'no_stream');

    const boom = new Error('projection bug');
    const revisions: number[] = [];
    const subscription = store.subscribeToAll(
      async (event) => {
        revisions.push(event.revision);
        if (event.revision === 1) throw boom;
      },
      { after: start.position },
    );
    assert.is(await subscription.failed, boom);

    await store.append(order, newEvents(2), 2);
    await sleep(50);
    assert.equal(revisions, [0, 1], 'nothing after the failing event');
    await subscription.close();
  });

  it('a handler that throws a non-Error fails the subscription with an Error', async ({ store, stream }) => {
    const start = await store.append(stream('marker'), [newEvent()], 'no_stream');
    await store.append(stream('order'), newEvents(1), 'no_stream');
    const subscription = store.subscribeToAll(
      () => {
        throw 'not an error';
      },
      { after: start.position },
    );
    const failure = await subscription.failed;
    assert.instance(failure, Error);
    assert.match(failure.message, 'not an error');
  });

  it('close() waits for the running handler, then nothing more is delivered', async ({ store, stream }) => {
    const order = stream('order');
    const start = await store.append(stream('marker'), [newEvent()], 'no_stream');
    await store.append(order, newEvents(1), 'no_stream');

    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const revisions: number[] = [];
    const subscription = store.subscribeToAll(
      async (event) => {
        revisions.push(event.revision);
        await gate;
      },
      { after: start.position },
    );
    await eventually(() => revisions.length === 1, 'the first handler call');

    let closed = false;
    const closing = subscription.close().then(() => {
      closed = true;
    });
    await store.append(order, newEvents(2), 0);
    await sleep(20);
    assert.not.ok(closed, 'close() waits while a handler runs');
    release();
    await closing;

    await store.append(order, newEvents(1), 2);
    await sleep(50);
    assert.equal(revisions, [0], 'nothing delivered after close()');
  });

  it("closing the store closes its subscriptions and waits for their handlers; ping stops", async ({
    store,
    stream,
  }) => {
    await store.ping();
    const start = await store.append(stream('marker'), [newEvent()], 'no_stream');
    await store.append(stream('order'), newEvents(1), 'no_stream');
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    store.subscribeToAll(
      async () => {
        calls++;
        await gate;
      },
      { after: start.position },
    );
    await eventually(() => calls === 1, 'a handler call');

    let closed = false;
    const closing = store.close().then(() => {
      closed = true;
    });
    await sleep(20);
    assert.not.ok(closed, 'store.close() waits for the running handler');
    release();
    await closing;
    assert.is(calls, 1);
    try {
      await store.ping();
      assert.unreachable('ping resolved on a closed store');
    } catch (error) {
      assert.not.instance(error, assert.Assertion);
    }
  });

  test.run();
}

