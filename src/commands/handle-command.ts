import { type Decider, type DomainEvent, fold } from '../domain/decider.ts';
import { type EventStore, type ExpectedRevision, WrongExpectedRevisionError } from '../ports/event-store.ts';

export type CommandContext = {
  correlationId: string;
  /** The id of each event to append; most are random, some derived from what they record. */
  newId: (event: DomainEvent) => string;
  /** The id of the event this command reacts to (a slot released because its execution ended). */
  causationId?: string;
};

export type CommandResult<Event extends DomainEvent, State> = {
  /** State after the command (unchanged when the command caused no event). */
  state: State;
  events: Event[];
  /** Global position of the last event written, or null when nothing was written. */
  position: number | null;
};

/** Enough for any real contention on one stream; beyond it something is wrong, not busy. */
const MAX_ATTEMPTS = 25;

/**
 * The only place that turns a command into stored events: read the stream, decide from its
 * state, append at the revision read. A conflict means someone else wrote first, so the
 * command is decided again on the new state — never written over it.
 */
export async function handleCommand<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamName: string,
  command: Command,
  context: CommandContext,
  options: {
    stateInLastEvent?: boolean;
    /**
     * Called with the state the events lead to as their append is made, to start work that
     * follows from it in the same turn, so that a store committing a turn's appends together (the
     * SQLite one) writes both with one commit. The caller awaits that work. It is called before
     * the append is known to succeed, and again on each retry after a conflict: the work must be
     * idempotent, and right whenever the command's decision is.
     */
    alongside?: (state: State) => void;
  } = {},
): Promise<CommandResult<Event, State>> {
  for (let attempt = 1; ; attempt++) {
    // Streams whose every event carries the whole state (slots) are read one event deep.
    const recorded = options.stateInLastEvent
      ? await store.readStream(streamName, { direction: 'backwards', maxCount: 1 })
      : await store.readStream(streamName);
    const state = fold(decider, recorded.map(toDomainEvent<Event>));
    const events = decider.decide(command, state);
    if (events.length === 0) return { state, events, position: null };

    const last = recorded.at(-1);
    const expected: ExpectedRevision = last === undefined ? 'no_stream' : last.revision;
    const next = events.reduce(decider.evolve, state);
    try {
      const appending = store.append(
        streamName,
        events.map((event) => ({
          id: context.newId(event),
          type: event.type,
          data: event.data,
          metadata:
            context.causationId === undefined
              ? { correlationId: context.correlationId }
              : { correlationId: context.correlationId, causationId: context.causationId },
        })),
        expected,
      );
      options.alongside?.(next);
      const result = await appending;
      return { state: next, events, position: result.position };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

/** Reads one stream's current state without deciding anything. */
export async function readState<Event extends DomainEvent, State>(
  store: EventStore,
  decider: Pick<Decider<never, Event, State>, 'initialState' | 'evolve'>,
  streamName: string,
): Promise<{ state: State; exists: boolean }> {
  const recorded = await store.readStream(streamName);
  return { state: fold(decider, recorded.map(toDomainEvent<Event>)), exists: recorded.length > 0 };
}

// The store holds only what deciders produced, so the stored type and data are trusted here.
const toDomainEvent = <Event extends DomainEvent>(recorded: { type: string; data: unknown }): Event =>
  ({ type: recorded.type, data: recorded.data }) as Event;
