import { type ExpectedRevision, WrongExpectedRevisionError } from '../../ports/event-store.ts';

/**
 * Throws WrongExpectedRevisionError unless the stream, whose last revision is `actual`, is what
 * the writer expected. Shared by the embedded adapters so they cannot drift apart.
 */
export function assertExpectedRevision(
  streamName: string,
  expected: ExpectedRevision,
  actual: number | 'no_stream',
): void {
  const holds =
    expected === 'any' ||
    (expected === 'no_stream' && actual === 'no_stream') ||
    (expected === 'stream_exists' && actual !== 'no_stream') ||
    expected === actual;
  if (!holds) throw new WrongExpectedRevisionError(streamName, expected, actual);
}
