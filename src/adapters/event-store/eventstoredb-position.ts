/**
 * The port's positions for EventStoreDB's. Pure, and free of @eventstore/db-client, so that its
 * unit test loads no gRPC client.
 *
 * EventStoreDB orders $all by a pair of transaction-log offsets (commit, prepare).
 * Every event appended over gRPC is a record that commits itself, so both offsets are that of its
 * own record: unique per event and increasing in $all order, within a multi-event append too
 * (only the legacy TCP explicit transactions gave several events one commit position; the
 * adapter refuses such events rather than number them twice). An append reports the pair of its
 * last event.
 * Filtered subscriptions also send checkpoints of the form (offset, 0): everything before that
 * record boundary was considered, and the record at it may be an event still to deliver.
 * Resuming after a checkpoint must not skip that event, and the server refuses to resume at an
 * offset inside a record, so the number keeps which kind of pair it stands for: 2·commit + 1 for
 * an event (or a checkpoint at one), 2·commit for the boundary before the record at commit. The
 * numbers never reverse the order of two pairs, events stay strictly increasing, and the pair to
 * resume from is rebuilt exactly. 2·commit + 1 stays a safe integer up to a 4 PiB log.
 */

/** A pair of log offsets as the server reports it (the client's `Position`). */
export type LogPosition = { commit: bigint; prepare: bigint };

/** Where to read or resume from: a pair, or the start of the log (the client's `START`). */
export type LogReadPosition = LogPosition | 'start';

/** The largest commit offset whose port position is a safe integer. */
export const MAX_COMMIT = BigInt((Number.MAX_SAFE_INTEGER - 1) / 2);

/** The port's position for a pair of log offsets reported by the server. */
export function encodePosition({ commit, prepare }: LogPosition): number {
  if (commit < 0n || commit > MAX_COMMIT) throw new RangeError(`log position ${commit} is out of range`);
  return Number(commit) * 2 + (prepare >= commit ? 1 : 0);
}

/** The pair of log offsets a port position stands for (0: the start of the log), to read or resume from. */
export function decodePosition(position: number): LogReadPosition {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new RangeError(`position ${position} was not reported by an EventStoreDB store`);
  }
  if (position === 0) return 'start';
  const commit = BigInt(Math.floor(position / 2));
  return { commit, prepare: position % 2 === 1 ? commit : 0n };
}
