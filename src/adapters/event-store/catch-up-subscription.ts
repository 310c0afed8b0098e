import type { EventHandler, RecordedEvent, SubscribeOptions, Subscription } from '../../ports/event-store.ts';

/** Tells idle subscriptions that this process has just appended, so they need not wait a poll. */
export type AppendSignal = {
  notify(): void;
  /** Returns a function that stops listening. */
  listen(listener: () => void): () => void;
};

export function createAppendSignal(): AppendSignal {
  const listeners = new Set<() => void>();
  return {
    notify() {
      for (const listener of listeners) listener();
    },
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export type CatchUpSource = {
  /** Up to `maxCount` events strictly after global position `after`, in global order. */
  readPage(after: number, maxCount: number): Promise<RecordedEvent[]>;
  appended: AppendSignal;
  /** Re-read this often when idle, for writers the signal cannot hear (other processes). */
  pollIntervalMs?: number;
};

/** Big enough to catch up quickly, small enough that one read never holds much in memory. */
export const PAGE_SIZE = 500;

/**
 * Reads pages after the last position seen and hands each event to `handler`, one at a time,
 * until closed or the handler throws. Calling close() from inside the handler is fine, but
 * awaiting it there never resolves: close waits for that very handler call to end.
 */
export function startCatchUpSubscription(
  source: CatchUpSource,
  handler: EventHandler,
  options: SubscribeOptions = {},
): Subscription {
  const { streamPrefixes } = options;
  const wanted = (event: RecordedEvent) =>
    streamPrefixes === undefined || streamPrefixes.some((prefix) => event.streamName.startsWith(prefix));

  let after = options.after ?? 0;
  let stopped = false;
  // Set by every append signal and cleared before each read, so a signal that arrives while a
  // page is being delivered is not lost (the in-memory store has no poll to fall back on).
  let appendedSinceRead = true;
  let wake: (() => void) | undefined;
  let reportFailure: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => {
    reportFailure = resolve;
  });

  const stopListening = source.appended.listen(() => {
    appendedSinceRead = true;
    wake?.();
  });

  const idle = () =>
    new Promise<void>((resolve) => {
      if (appendedSinceRead || stopped) return resolve();
      const timer = source.pollIntervalMs === undefined ? undefined : setTimeout(done, source.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const deliver = async () => {
    try {
      while (!stopped) {
        appendedSinceRead = false;
        const page = await source.readPage(after, PAGE_SIZE);
        for (const event of page) {
          if (stopped) return;
          if (wanted(event)) {
            // A synchronous handler (the projections') is not awaited: a microtask per event
            // is a measurable part of catching up a million of them.
            const handled = handler(event);
            if (handled !== undefined) await handled;
          }
          after = event.position;
        }
        // A synchronous store and handler would otherwise catch up a long log in one task and
        // starve timers and sockets; one macrotask per page keeps the process responsive.
        // setImmediate, not setTimeout(0): a timer waits at least 1 ms, 2 s over a million events.
        if (page.length === PAGE_SIZE) await new Promise((resolve) => setImmediate(resolve));
        else await idle();
      }
    } catch (error) {
      stopped = true;
      reportFailure(error instanceof Error ? error : new Error(`subscription handler threw ${String(error)}`));
    } finally {
      stopListening();
    }
  };
  const delivering = deliver();

  return {
    failed,
    async close() {
      stopped = true;
      wake?.();
      await delivering;
    },
  };
}

/** The subscriptions a store has open, so that closing the store closes them first. */
export function createSubscriptionSet(source: CatchUpSource) {
  const open = new Set<Subscription>();
  return {
    subscribe(handler: EventHandler, options?: SubscribeOptions): Subscription {
      const subscription = startCatchUpSubscription(source, handler, options);
      open.add(subscription);
      return {
        failed: subscription.failed,
        close: () => {
          open.delete(subscription);
          return subscription.close();
        },
      };
    },
    async closeAll(): Promise<void> {
      await Promise.all([...open].map((subscription) => subscription.close()));
      open.clear();
    },
  };
}
