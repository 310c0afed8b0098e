/**
 * The EventStoreDB adapter's pure mappings (positions, revisions, system events), from modules
 * that do not load the gRPC client. The adapter itself, client loaded: eventstoredb-unreachable.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isSystemEvent, toActualRevision, toClientExpectedRevision } from '../src/adapters/event-store/eventstoredb-mapping.ts';
import { decodePosition, encodePosition } from '../src/adapters/event-store/eventstoredb-position.ts';

const revisions = suite('eventstoredb: expected and actual revisions');

revisions('each expectation maps to the client constant, an exact revision to the same bigint', () => {
  assert.is(toClientExpectedRevision('no_stream'), 'no_stream');
  assert.is(toClientExpectedRevision('stream_exists'), 'stream_exists');
  assert.is(toClientExpectedRevision('any'), 'any');
  assert.is(toClientExpectedRevision(0), 0n);
  assert.is(toClientExpectedRevision(41), 41n);
  assert.is(toClientExpectedRevision(Number.MAX_SAFE_INTEGER), 9007199254740991n);
});

revisions('a negative or fractional revision is refused, not sent', () => {
  for (const bad of [-1, 1.5, Number.NaN, Infinity]) assert.throws(() => toClientExpectedRevision(bad), RangeError);
});

revisions("a conflict's actual revision: a number, or 'no_stream' however the client says it", () => {
  assert.is(toActualRevision(0n), 0);
  assert.is(toActualRevision(7n), 7);
  assert.is(toActualRevision('no_stream'), 'no_stream');
  assert.is(toActualRevision(-1n), 'no_stream');
  assert.is(toActualRevision(-1), 'no_stream');
  assert.is(toActualRevision(undefined), 'no_stream');
});

revisions.run();

const positions = suite('eventstoredb: positions');

const event = (offset: bigint) => ({ commit: offset, prepare: offset });
const boundary = (offset: bigint) => ({ commit: offset, prepare: 0n });

positions('an event is 2·offset + 1, above 0, and comes back as the same pair', () => {
  assert.is(encodePosition(event(0n)), 1);
  assert.is(encodePosition(event(1234n)), 2469);
  assert.equal(decodePosition(2469), event(1234n));
});

positions('the events of one multi-event append (consecutive records) increase strictly', () => {
  const numbers = [100n, 187n, 274n].map((offset) => encodePosition(event(offset)));
  assert.equal(numbers, [201, 375, 549]);
});

positions('a checkpoint at a record boundary sorts before the event at that offset and resumes before it', () => {
  const checkpoint = encodePosition(boundary(274n));
  assert.is(checkpoint, 548);
  assert.ok(encodePosition(event(187n)) < checkpoint && checkpoint < encodePosition(event(274n)));
  assert.equal(decodePosition(checkpoint), boundary(274n), 'resuming after (274, 0) delivers the event at 274');
  assert.is(encodePosition({ commit: 274n, prepare: 100n }), 548, 'any prepare short of the commit: that boundary');
});

positions('a checkpoint at an event resumes after that event', () => {
  assert.equal(decodePosition(encodePosition(event(274n))), event(274n));
});

positions('0 means the start of the log', () => {
  assert.is(decodePosition(0), 'start');
});

positions('the largest offset that stays a safe integer, and no further', () => {
  const largest = 2n ** 52n - 1n;
  assert.is(encodePosition(event(largest)), Number.MAX_SAFE_INTEGER);
  assert.equal(decodePosition(Number.MAX_SAFE_INTEGER), event(largest));
  assert.throws(() => encodePosition(event(largest + 1n)), RangeError);
  // The server's "no position" (-1 as an unsigned 64-bit number) is never taken for a position.
  assert.throws(() => encodePosition(event(2n ** 64n - 1n)), RangeError);
  assert.throws(() => encodePosition(event(-1n)), RangeError);
});

positions('a position this store never reported is refused', () => {
  for (const bad of [-1, 0.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
    assert.throws(() => decodePosition(bad), RangeError);
  }
});

positions.run();

const system = suite('eventstoredb: system events');

system("the server's own streams and event types are system events; Faasbox's are not", () => {
  assert.ok(isSystemEvent({ streamId: '$stats-127.0.0.1:2113', type: '$statsCollected' }));
  assert.ok(isSystemEvent({ streamId: '$$user-1', type: '$metadata' }));
  assert.ok(isSystemEvent({ streamId: 'user-1', type: '$>' }), 'a link');
  assert.not.ok(isSystemEvent({ streamId: 'user-1', type: 'UserRegistered' }));
  assert.not.ok(isSystemEvent({ streamId: 'slots-global', type: 'Slot$Reserved' }));
});

system.run();
