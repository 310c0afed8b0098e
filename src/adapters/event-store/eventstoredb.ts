/**
 * The production EventStore: EventStoreDB (being renamed KurrentDB) over gRPC. This is the only
 * module that imports @eventstore/db-client, so moving to the renamed client touches one file.
 * Needs EventStoreDB 22.6 or later: older servers leave positions out of stream reads.
 */
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendResult as ClientAppendResult,
  type RecordedEvent as ClientRecordedEvent,
  type Filter,
  type JSONEventData,
  type JSONType,
  type Position,
  type ReadPosition,
} from '@eventstore/db-client';
import {
  type AppendResult,
  type EventHandler,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedRevisionError,
} from '../../ports/event-store.ts';
import { type ClientCurrentRevision, isSystemEvent, toActualRevision, toClientExpectedRevision } from './eventstoredb-mapping.ts';
import { MAX_COMMIT, decodePosition, encodePosition } from './eventstoredb-position.ts';
import { assertExpectedRevision } from './expected-revision.ts';

/** Big enough to catch up quickly, small enough that one read never holds much in memory. */
const PAGE_SIZE = 500;
/** A retried batch usually sits at the head of its stream, so the search for it reads small pages. */
const SEARCH_PAGE_SIZE = 100;
/** /readyz must answer while the server is unreachable, well before the client's 10 s default. */
const PING_DEADLINE_MS = 3_000;

/** A checkpoint travels in the subscription's own stream, behind the events that came before it. */
type CheckpointMarker = { readonly checkpoint: Position };

export function createEventStoreDbStore(connectionString: string): EventStore {
  const client = EventStoreDBClient.connectionString(connectionString);
  const subscriptions = new Set<Subscription>();
  let closing: Promise<void> | undefined;

  const assertOpen = () => {
    if (closing !== undefined) throw new Error('event store is closed');
  };

  const readStreamNow = async (
    streamName: string,
    { direction = 'forwards', fromRevision, maxCount }: ReadStreamOptions = {},
  ): Promise<RecordedEvent[]> => {
    const forwards = direction === 'forwards';
    if ((maxCount !== undefined && maxCount <= 0) || (!forwards && fromRevision !== undefined && fromRevision < 0)) {
      return [];
    }
    const read = client.readStream(streamName, {
      direction: forwards ? FORWARDS : BACKWARDS,
      fromRevision: fromRevision === undefined ? (forwards ? START : END) : BigInt(Math.max(0, fromRevision)),
      ...(maxCount === undefined ? {} : { maxCount }),
    });
    try {
      return (await collect(read)).flatMap(({ event }) => (event === undefined ? [] : [toRecorded(event)]));
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
  };

  /** Pages through $all, skipping the server's own events, until `maxCount` are found or the log ends. */
  const readAllNow = async ({ after = 0, direction = 'forwards', maxCount = Infinity }: ReadAllOptions = {}) => {
    const forwards = direction === 'forwards';
    const found: RecordedEvent[] = [];
    let from: ReadPosition = forwards ? decodePosition(after) : END;
    // The last record read, in reading order; the next page starts at it and may repeat it.
    let last = forwards ? after : Infinity;
    while (found.length < maxCount) {
      // One more than still wanted, so that a page repeating its first record still moves on.
      const pageSize = Math.min(PAGE_SIZE, maxCount - found.length + 1);
      const page = await collect(
        client.readAll({ direction: forwards ? FORWARDS : BACKWARDS, fromPosition: from, maxCount: pageSize }),
      );
      for (const { event } of page) {
        if (event === undefined) continue;
        const position = encodePosition(event.position);
        if (forwards ? position <= last : position >= last) continue;
        if (!forwards && position <= after) return found;
        last = position;
        from = event.position;
        if (isSystemEvent(event)) continue;
        found.push(toRecorded(event));
        if (found.length >= maxCount) return found;
      }
      if (page.length < pageSize) return found;
    }
    return found;
  };

  /**
   * The result of the append that `events` retries, when its first event is in the stream between
   * revisions `from` and `head` (the end when not given): the last of the batch's events found
   * there. Reads backwards from the head, where a retried batch usually sits.
   */
  const findEarlierAppend = async (
    streamName: string,
    events: readonly NewEvent[],
    { from, head }: { from: number; head?: number },
  ): Promise<AppendResult | undefined> => {
    // The server hands ids back in lower case.
    const ids = new Set(events.map((event) => event.id.toLowerCase()));
    const firstId = events[0]?.id.toLowerCase();
    let last: RecordedEvent | undefined;
    let top = head;
    for (;;) {
      const pageSize = top === undefined ? SEARCH_PAGE_SIZE : Math.min(SEARCH_PAGE_SIZE, top - from + 1);
      if (pageSize <= 0) return undefined;
      const page = await readStreamNow(streamName, { direction: 'backwards', fromRevision: top, maxCount: pageSize });
      for (const event of page) {
        if (event.revision < from) return undefined;
        if (!ids.has(event.id)) continue;
        // Read backwards, the first of the batch's events met is the last one appended.
        last ??= event;
        // The whole batch, one event after another; its first event alone is another append.
        if (event.id === firstId) return last.revision - event.revision === events.length - 1 ? { nextRevision: last.revision, position: last.position } : undefined;
      }
      const oldest = page.at(-1);
      if (page.length < pageSize || oldest === undefined) return undefined;
      top = oldest.revision - 1;
    }
  };

  /**
   * The server recognises a retry only where the expectation puts the retried batch, so a
   * conflict may still hide one (the earlier attempt expected otherwise). It can only be among
   * the events the writer had not seen: after its expected revision, up to the head the conflict
   * reports. Reading just those keeps a conflict on a long stream (slots) as cheap as the few
   * events that caused it.
   */
  const afterConflict = async (
    streamName: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
    reported: ClientCurrentRevision | number | undefined,
  ): Promise<AppendResult> => {
    const actual = toActualRevision(reported);
    if (actual !== 'no_stream') {
      const from = typeof expected === 'number' ? expected + 1 : 0;
      const earlier = await findEarlierAppend(streamName, events, { from, head: actual });
      if (earlier !== undefined) return earlier;
    }
    throw new WrongExpectedRevisionError(streamName, expected, actual);
  };

  /** The last appended (or, for a recognised retry, earlier appended) event's revision and position. */
  const appendedAt = async (streamName: string, outcome: ClientAppendResult): Promise<AppendResult> => {
    const nextRevision = Number(outcome.nextExpectedRevision);
    const { position } = outcome;
    // A fresh append reports its last event's own pair. For a retry it recognised, an older server
    // reports no position (or -1): the event itself then says where it is.
    if (position !== undefined && position.commit === position.prepare && position.commit <= MAX_COMMIT) {
      return { nextRevision, position: encodePosition(position) };
    }
    const [last] = await readStreamNow(streamName, { fromRevision: nextRevision, maxCount: 1 });
    if (last === undefined) throw new Error(`stream ${streamName}: appended revision ${nextRevision} is not there`);
    return { nextRevision, position: last.position };
  };

  /** An empty append writes nothing (the server would log an empty record): it checks the head. */
  const checkHead = async (streamName: string, expected: ExpectedRevision): Promise<AppendResult> => {
    const [head] = await readStreamNow(streamName, { direction: 'backwards', maxCount: 1 });
    assertExpectedRevision(streamName, expected, head?.revision ?? 'no_stream');
    return { nextRevision: head?.revision ?? -1, position: head?.position ?? 0 };
  };

  return {
    async append(streamName, events, expected) {
      assertOpen();
      if (events.length === 0) return checkHead(streamName, expected);
      // For these two the server looks ids up only among recently written events, so a late
      // retry would be written twice: look for it first. Faasbox's commands never use them.
      if (expected === 'any' || expected === 'stream_exists') {
        const earlier = await findEarlierAppend(streamName, events, { from: 0 });
        if (earlier !== undefined) return earlier;
      }
      let outcome: ClientAppendResult;
      try {
        outcome = await client.appendToStream(streamName, events.map(toEventData), {
          expectedRevision: toClientExpectedRevision(expected),
        });
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        return afterConflict(streamName, events, expected, error.actualVersion);
      }
      // Reached only with throwOnAppendFailure=false in the connection string.
      if (!outcome.success) return afterConflict(streamName, events, expected, outcome.nextExpectedRevision);
      return appendedAt(streamName, outcome);
    },

    async readStream(streamName, options) {
      assertOpen();
      return readStreamNow(streamName, options);
    },

    async readAll(options) {
      assertOpen();
      return readAllNow(options);
    },

    subscribeToAll(handler, options) {
      assertOpen();
      const subscription = startSubscription(client, handler, options);
      subscriptions.add(subscription);
      return {
        failed: subscription.failed,
        close: () => {
          subscriptions.delete(subscription);
          return subscription.close();
        },
      };
    },

    async ping() {
      assertOpen();
      await collect(
        client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1, deadline: PING_DEADLINE_MS }),
      );
    },

    close() {
      closing ??= Promise.all([...subscriptions].map((subscription) => subscription.close())).then(() =>
        client.dispose(),
      );
      return closing;
    },
  };
}

/**
 * Catches up from `after`, then follows live. The client's stream is iterated, so each handler
 * call is awaited before the next event is taken, and the stream holds back the server meanwhile.
 */
function startSubscription(
  client: EventStoreDBClient,
  handler: EventHandler,
  { after = 0, streamPrefixes, onCheckpoint }: SubscribeOptions = {},
): Subscription {
  const wanted = (event: RecordedEvent) =>
    streamPrefixes === undefined || streamPrefixes.some((prefix) => event.streamName.startsWith(prefix));
  const stream = client.subscribeToAll({
    fromPosition: decodePosition(after),
    filter: serverFilter(streamPrefixes, onCheckpoint !== undefined),
  });

  let stopped = false;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      stopped = true;
      await stream.unsubscribe().catch(() => {});
      stream.destroy();
    })());

  let reportFailure: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => {
    reportFailure = resolve;
  });

  const deliver = async () => {
    let last = after;
    try {
      for await (const item of stream as AsyncIterable<AllStreamResolvedEvent | CheckpointMarker>) {
        if (stopped) return;
        if ('checkpoint' in item) {
          const checkpoint = encodePosition(item.checkpoint);
          if (checkpoint > last) {
            last = checkpoint;
            onCheckpoint?.(checkpoint);
          }
          continue;
        }
        if (item.event === undefined || isSystemEvent(item.event)) continue;
        const event = toRecorded(item.event);
        if (event.position <= last || !wanted(event)) continue;
        await handler(event);
        last = event.position;
      }
      if (!stopped) reportFailure(new Error('EventStoreDB ended the subscription'));
    } catch (error) {
      if (stopped) return;
      reportFailure(error instanceof Error ? error : new Error(`subscription handler threw ${String(error)}`));
    } finally {
      await stop();
    }
  };
  const delivering = deliver();

  return {
    failed,
    async close() {
      await stop();
      await delivering;
    },
  };
}

/**
 * Filters on the server, so a projection of a few streams does not pull the whole log. A
 * checkpoint is pushed into the subscription's own stream: the client calls back as soon as it
 * parses one, possibly while earlier events still wait for the handler.
 */
function serverFilter(streamPrefixes: readonly string[] | undefined, withCheckpoints: boolean): Filter {
  const options = withCheckpoints
    ? {
        checkpointReached: (subscription: AllStreamSubscription, checkpoint: Position) =>
          void subscription.push({ checkpoint } satisfies CheckpointMarker),
      }
    : {};
  return streamPrefixes !== undefined && streamPrefixes.length > 0
    ? streamNameFilter({ prefixes: [...streamPrefixes], ...options })
    : excludeSystemEvents(options);
}

function toEventData(event: NewEvent): JSONEventData {
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    // The client JSON-encodes any value; its JSONType leaves out the scalars an event may carry.
    data: (event.data ?? null) as JSONType,
    metadata: event.metadata,
  };
}

function toRecorded(event: ClientRecordedEvent): RecordedEvent {
  if (!event.isJson || !isEventMetadata(event.metadata)) {
    throw new Error(`event ${event.id} in ${event.streamId} was not written by Faasbox: no JSON with a correlation id`);
  }
  return {
    id: event.id,
    streamName: event.streamId,
    revision: Number(event.revision),
    position: eventPosition(event),
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.created.toISOString(),
  };
}

const isEventMetadata = (metadata: unknown): metadata is EventMetadata =>
  typeof metadata === 'object' &&
  metadata !== null &&
  typeof (metadata as { correlationId?: unknown }).correlationId === 'string';

function eventPosition({ id, position }: ClientRecordedEvent): number {
  if (position === undefined || position.commit > MAX_COMMIT) {
    throw new Error(`event ${id} came without a position: EventStoreDB 22.6 or later reports one`);
  }
  if (position.commit !== position.prepare) {
    throw new Error(`event ${id} was written in an explicit transaction, whose events share one position`);
  }
  return encodePosition(position);
}

async function collect<T>(read: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
}
