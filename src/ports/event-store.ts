/**
 * The EventStore port: the only way the core touches stored events.
 * Adapters: memory (tests), SQLite (embedded default), EventStoreDB (production).
 * Every adapter passes test/event-store.contract.test.ts.
 */

/** What the writer believes the stream looks like; a mismatch is a conflict, never an overwrite. */
export type ExpectedRevision =
  | 'no_stream' // the stream must not exist yet
  | 'stream_exists' // the stream must have at least one event
  | 'any' // no check
  | number; // the revision of the stream's last event (0-based)

export type EventMetadata = {
  /** Correlation id of the request that caused the event. */
  correlationId: string;
  /** Id of the event or command that caused it, when there is one. */
  causationId?: string;
};

export type NewEvent = {
  /**
   * Unique event id (UUID). When the first event's id is already in the stream, the append is a
   * retry of one that succeeded: nothing is written and that earlier append's result is returned.
   */
  id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
};

export type RecordedEvent = {
  id: string;
  streamName: string;
  /** 0-based position of the event within its stream. */
  revision: number;
  /** Position in the global log; strictly increasing across all streams, starting above 0. */
  position: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  /** ISO 8601 time the store recorded the event. */
  recordedAt: string;
};

export type AppendResult = {
  /** Revision of the last event now in the stream. */
  nextRevision: number;
  /** Global position of the last appended event. */
  position: number;
};

export type ReadStreamOptions = {
  direction?: 'forwards' | 'backwards';
  /** Start at this revision (inclusive); defaults to the first (forwards) or last (backwards). */
  fromRevision?: number;
  maxCount?: number;
};

export type ReadAllOptions = {
  /** Return events strictly after this global position; 0 means from the beginning. */
  after?: number;
  /** Backwards starts at the newest event (still only events after `after`): the head in one read. */
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
};

export type SubscribeOptions = {
  /** Deliver events strictly after this global position; 0 means from the beginning. */
  after?: number;
  /** Only events of streams whose name starts with one of these prefixes. */
  streamPrefixes?: readonly string[];
  /** The store has read up to here with no matching event since; a reader may save it as its checkpoint. */
  onCheckpoint?: (position: number) => void;
};

export type EventHandler = (event: RecordedEvent) => void | Promise<void>;

export type Subscription = {
  /** Stops delivery; resolves once no handler call is running. */
  close(): Promise<void>;
  /** Resolves when the subscription fails for good (the handler threw, or the store failed). */
  readonly failed: Promise<Error>;
};

export interface EventStore {
  /** Appends atomically; throws WrongExpectedRevisionError when `expected` does not hold. */
  append(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /** Events of one stream; an empty array when the stream does not exist. */
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Events of every stream in global order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Catches up from `after`, then follows new events live, one handler call at a time, in order. */
  subscribeToAll(handler: EventHandler, options?: SubscribeOptions): Subscription;
  /** Resolves when the store can serve reads (used by /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError';
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    /** The stream's actual last revision, or 'no_stream'. */
    readonly actual: number | 'no_stream',
  ) {
    super(`stream ${streamName}: expected revision ${String(expected)}, actual ${String(actual)}`);
  }
}
