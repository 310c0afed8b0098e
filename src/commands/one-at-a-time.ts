import type { EventStore } from '../ports/event-store.ts';

/**
 * Commands on a busy stream take turns in this process: a slot stream (every execution of its
 * user at once) or an execution's (its recorder and its waiting request record the same report).
 * Side by side they would all read one revision and all but one conflict, or all decide the same
 * event and count it as theirs: 32 requests of one user at once spent their 25 attempts on the
 * slot stream. Other processes still meet a conflict, and decide again.
 */
export function oneAtATime<T>(store: EventStore, stream: string, work: () => Promise<T>): Promise<T> {
  let queues = streamQueues.get(store);
  if (!queues) streamQueues.set(store, (queues = new Map()));
  const result = (queues.get(stream) ?? Promise.resolve()).then(work);
  const settled = result.then(
    () => {},
    () => {},
  );
  queues.set(stream, settled);
  void settled.then(() => {
    if (queues.get(stream) === settled) queues.delete(stream);
  });
  return result;
}

const streamQueues = new WeakMap<EventStore, Map<string, Promise<void>>>();
