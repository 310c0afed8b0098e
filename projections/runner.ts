import type { EventStore, Subscription } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

export type ProjectionRunner = {
  /** Global position of the last event every projection has applied. */
  readonly position: number;
  /** True once the projections have caught up with the store as it was at start. */
  readonly caughtUp: boolean;
  /**
   * Resolves true once the projections have passed `position` (read-your-writes), false when
   * `timeoutMs` ran out first: the caller answers with what it has rather than hang.
   */
  waitFor(position: number, timeoutMs: number): Promise<boolean>;
  /** Resolves when the subscription fails for good. */
  readonly failed: Promise<Error>;
  stop(): Promise<void>;
};

type Waiter = { position: number; resolve: (reached: boolean) => void; timer: ReturnType<typeof setTimeout> };

/** Feeds every projection from one subscription to all streams, starting after `checkpoint`. */
export async function startProjections(
  store: EventStore,
  projections: readonly Projection[],
  checkpoint = 0,
): Promise<ProjectionRunner> {
  let position = checkpoint;
  let caughtUp = false;
  let waiters: Waiter[] = [];
  const startHead = await headPosition(store);

  const settle = () => {
    if (!caughtUp && position >= startHead) caughtUp = true;
    if (waiters.length === 0) return;
    waiters = waiters.filter((waiter) => {
      if (waiter.position > position) return true;
      clearTimeout(waiter.timer);
      waiter.resolve(true);
      return false;
    });
  };
  settle();

  // Unfiltered, so that the position passes every write, including those no projection reads:
  // read-your-writes waits for the position of any command's last event.
  const subscription: Subscription = store.subscribeToAll(
    (event) => {
      for (const projection of projections) {
        if (projection.streamPrefixes.some((prefix) => event.streamName.startsWith(prefix))) projection.apply(event);
      }
      position = event.position;
      settle();
    },
    { after: checkpoint },
  );

  return {
    get position() {
      return position;
    },
    get caughtUp() {
      return caughtUp;
    },
    waitFor(target, timeoutMs) {
      if (target <= position) return Promise.resolve(true);
      return new Promise((resolve) => {
        const waiter: Waiter = {
          position: target,
          resolve,
          timer: setTimeout(() => {
            waiters = waiters.filter((w) => w !== waiter);
            resolve(false);
          }, timeoutMs),
        };
        waiters.push(waiter);
      });
    },
    failed: subscription.failed,
    async stop() {
      await subscription.close();
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.resolve(false);
      }
      waiters = [];
    },
  };
}

async function headPosition(store: EventStore): Promise<number> {
  const [last] = await store.readAll({ after: 0, maxCount: 1, direction: 'backwards' });
  return last?.position ?? 0;
}
