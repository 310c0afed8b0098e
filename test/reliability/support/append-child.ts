/**
 * One writer of the SQLite event store, run as its own process so a test can kill -9 it at any
 * moment. It appends single events and batches of up to four to streams of its own, and now and
 * then to a stream every writer shares, each at the revision it expects; it prints every append
 * the store acknowledged, as a JSON line, the moment the append resolved. Used by
 * test/reliability/store-crash.test.ts, which bundles it into one JavaScript file first.
 *   node --import tsx test/reliability/support/append-child.ts <file> <writer> <round> <streams>
 *
 * Event ids are `<writer>-<round>-<append>/<index>/<size>`: the test finds every batch in the file
 * by them, acknowledged or not, and checks it is whole.
 */
import { createSqliteEventStore } from '../../../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../../../src/adapters/sqlite/better-sqlite3-driver.ts';
import { type EventStore, type ExpectedRevision, WrongExpectedRevisionError } from '../../../src/ports/event-store.ts';
import { writeLineSync } from '../../support/write-line-sync.ts';

/** One acknowledged append, as printed; store-crash.test.ts reads the same shape. */
type AckLine = { stream: string; ids: string[]; nextRevision: number; position: number };

const SHARED_STREAM = 'crash-shared';
const ownStream = (writer: string, index: number) => `crash-${writer}-${index}`;

const [file, writer, round, streamCount] = process.argv.slice(2);
if (file === undefined || writer === undefined || round === undefined || streamCount === undefined) {
  throw new Error('usage: append-child <file> <writer> <round> <streams>');
}

const store = createSqliteEventStore(openBetterSqlite3(file));
const ownStreams = Array.from({ length: Number(streamCount) }, (_, index) => ownStream(writer, index));

/** What the file holds now, as the next append's expected revision: a restarted writer reads it back. */
async function headOf(stream: string): Promise<ExpectedRevision> {
  const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  return last?.revision ?? 'no_stream';
}

const expected = new Map<string, ExpectedRevision>();
for (const stream of ownStreams) expected.set(stream, await headOf(stream));

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

/** Nobody else writes these streams: a conflict means the store lost or invented an event. */
async function appendToOwn(store: EventStore, stream: string, events: Parameters<EventStore['append']>[1]) {
  const result = await store.append(stream, events, expected.get(stream) ?? 'no_stream');
  expected.set(stream, result.nextRevision);
  return result;
}

/** The other writer races for this one: read, append at what was read, retry on conflict. */
async function appendToShared(store: EventStore, events: Parameters<EventStore['append']>[1]) {
  for (;;) {
    try {
      return await store.append(SHARED_STREAM, events, await headOf(SHARED_STREAM));
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
    }
  }
}

// The test kills this process long before; the deadline only ends an orphan whose test died.
const deadline = Date.now() + 30_000;
for (let append = 0; Date.now() < deadline; append++) {
  const size = 1 + Math.floor(Math.random() * 4);
  const key = `${writer}-${round}-${append}`;
  const ids = Array.from({ length: size }, (_, index) => `${key}/${index}/${size}`);
  const events = ids.map((id, index) => ({ id, type: 'CrashProbe', data: { writer, append, index }, metadata: { correlationId: key } }));
  const shared = Math.random() < 0.2;
  const stream = shared ? SHARED_STREAM : pick(ownStreams);
  const result = shared ? await appendToShared(store, events) : await appendToOwn(store, stream, events);
  const line: AckLine = { stream, ids, ...result };
  // Once this returns, the test has the line.
  writeLineSync(JSON.stringify(line));
}
await store.close();
