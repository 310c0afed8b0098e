import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
} from '../../ports/event-store.ts';
import { createAppendSignal, createSubscriptionSet } from './catch-up-subscription.ts';
import { assertExpectedRevision } from './expected-revision.ts';

/**
 * Data and metadata are kept as JSON text, like the SQLite store keeps them: a caller that
 * mutates what it appended or read cannot change history, and values JSON cannot hold
 * (undefined, Dates) come back the same way from both stores.
 */
type StoredEvent = Omit<RecordedEvent, 'data' | 'metadata'> & { data: string; metadata: string };

/** The EventStore for unit tests: the same semantics as the SQLite store, nothing on disk. */
export function createMemoryEventStore(options: { now?: () => Date } = {}): EventStore {
  const now = options.now ?? (() => new Date());
  // log[i] has global position i + 1.
  const log: StoredEvent[] = [];
  const streams = new Map<string, StoredEvent[]>();
  const byId = new Map<string, StoredEvent>();
  const appended = createAppendSignal();
  let closing: Promise<void> | undefined;

  const subscriptions = createSubscriptionSet({
    readPage: async (after, maxCount) => readAllNow({ after, maxCount }),
    appended,
  });

  const assertOpen = () => {
    if (closing !== undefined) throw new Error('event store is closed');
  };

  // Slices only the events returned: a subscription reads a long log page by page.
  const readAllNow = ({ after = 0, direction = 'forwards', maxCount }: ReadAllOptions = {}) => {
    const first = Math.max(0, after);
    const count = Math.max(0, Math.min(limit(maxCount) ?? Infinity, log.length - first));
    const range = direction === 'forwards' ? log.slice(first, first + count) : log.slice(log.length - count).reverse();
    return range.map(toRecorded);
  };

  return {
    async append(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
      assertOpen();
      const stream = streams.get(streamName) ?? [];
      const earlier = retriedAppend(streamName, events, byId);
      if (earlier !== undefined) return earlier;

      const last = stream.at(-1);
      assertExpectedRevision(streamName, expected, last?.revision ?? 'no_stream');
      assertIdsAreNew(events, byId);
      if (events.length === 0) return { nextRevision: last?.revision ?? -1, position: last?.position ?? 0 };

      const recordedAt = now().toISOString();
      for (const event of events) {
        const stored: StoredEvent = {
          id: event.id,
          streamName,
          revision: stream.length,
          position: log.length + 1,
          type: event.type,
          data: JSON.stringify(event.data ?? null),
          metadata: JSON.stringify(event.metadata),
          recordedAt,
        };
        log.push(stored);
        stream.push(stored);
        byId.set(stored.id, stored);
      }
      streams.set(streamName, stream);
      appended.notify();
      return { nextRevision: stream.length - 1, position: log.length };
    },

    async readStream(streamName: string, { direction = 'forwards', fromRevision, maxCount }: ReadStreamOptions = {}) {
      assertOpen();
      const stream = streams.get(streamName) ?? [];
      const selected =
        direction === 'forwards'
          ? stream.filter((event) => event.revision >= (fromRevision ?? 0))
          : stream.filter((event) => event.revision <= (fromRevision ?? Infinity)).reverse();
      return selected.slice(0, limit(maxCount)).map(toRecorded);
    },

    async readAll(readOptions?: ReadAllOptions) {
      assertOpen();
      return readAllNow(readOptions);
    },

    subscribeToAll(handler, subscribeOptions) {
      assertOpen();
      return subscriptions.subscribe(handler, subscribeOptions);
    },

    async ping() {
      assertOpen();
    },

    close() {
      closing ??= subscriptions.closeAll();
      return closing;
    },
  };
}

/**
 * The result of the earlier append that `events` repeats: every event stored in this stream, one
 * after another. One whose first event alone is stored is another append, never a retry.
 */
function retriedAppend(
  streamName: string,
  events: readonly NewEvent[],
  byId: ReadonlyMap<string, StoredEvent>,
): AppendResult | undefined {
  let last: StoredEvent | undefined;
  for (const event of events) {
    const stored = byId.get(event.id);
    if (stored === undefined || stored.streamName !== streamName) return undefined;
    if (last !== undefined && stored.revision !== last.revision + 1) return undefined;
    last = stored;
  }
  return last && { nextRevision: last.revision, position: last.position };
}

/** Ids are unique across all streams, as the SQLite store's UNIQUE index makes them. */
function assertIdsAreNew(events: readonly NewEvent[], byId: ReadonlyMap<string, StoredEvent>): void {
  const seen = new Set<string>();
  for (const { id } of events) {
    if (byId.has(id) || seen.has(id)) {
      throw new Error(`event id ${id} is already stored; ids are unique across streams`);
    }
    seen.add(id);
  }
}

const limit = (maxCount: number | undefined) => (maxCount === undefined ? undefined : Math.max(0, maxCount));

const toRecorded = (stored: StoredEvent): RecordedEvent => ({
  ...stored,
  data: JSON.parse(stored.data) as unknown,
  metadata: JSON.parse(stored.metadata) as RecordedEvent['metadata'],
});
