/**
 * The port's revisions in EventStoreDB's terms, and which events are the server's own. Pure, and
 * free of @eventstore/db-client (its constants are these strings), so that their unit test loads
 * no gRPC client; eventstoredb.ts hands these values to the client, and tsc checks they fit.
 */
import type { ExpectedRevision } from '../../ports/event-store.ts';

/** An append's expectation as the client takes it (`NO_STREAM`, `STREAM_EXISTS`, `ANY`, or a revision). */
export type ClientExpectedRevision = 'no_stream' | 'stream_exists' | 'any' | bigint;

/** A stream's revision as the client reports it in a conflict (`NO_STREAM` or a revision). */
export type ClientCurrentRevision = 'no_stream' | bigint;

export function toClientExpectedRevision(expected: ExpectedRevision): ClientExpectedRevision {
  switch (expected) {
    case 'no_stream':
    case 'stream_exists':
    case 'any':
      return expected;
    default:
      if (!Number.isSafeInteger(expected) || expected < 0) {
        throw new RangeError(`expected revision ${expected} is not a revision`);
      }
      return BigInt(expected);
  }
}

/** The stream's revision as a conflict reports it, in the form WrongExpectedRevisionError takes. */
export function toActualRevision(actual: ClientCurrentRevision | number | undefined): number | 'no_stream' {
  // The client says "no_stream"; -1 (the server's own number for it) or nothing at all mean the same.
  if (actual === undefined || actual === 'no_stream' || actual < 0) return 'no_stream';
  return Number(actual);
}

/** The server keeps its own streams and event types (statistics, settings, links) under `$`. */
export const isSystemEvent = ({ streamId, type }: { streamId: string; type: string }): boolean =>
  streamId.startsWith('$') || type.startsWith('$');
