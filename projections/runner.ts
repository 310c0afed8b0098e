import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import type { EventStore, RecordedEvent, Subscription } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';
import { readCheckpoint, resetProjections, saveCheckpoint, tuneForCatchUp } from './read-model-store.ts';

export type ProjectionRunner = {
  /** Global position of the last event every projection has applied and committed. */
  readonly position: number;
  /** Where the projections started: the lowest stored checkpoint, 0 for a fresh database. */
  readonly startedFrom: number;
  /** Events applied since start. */
  readonly applied: number;
  /** True once the projections have caught up with the store as it was at start. */
  readonly caughtUp: boolean;
  /** Resolves once caught up (see `caughtUp`). */
  readonly ready: Promise<void>;
  /**
   * Resolves true once the projections have passed `position` (read-your-writes), false when
   * `timeoutMs` ran out first: the caller answers with what it has rather than hang.
   */
  waitFor(position: number, timeoutMs: number): Promise<boolean>;
  /**
   * The store's head position minus `position`, 0 when caught up: one read of the head, cheap
   * enough for every scrape. A SQLite position numbers events, so this counts events behind; an
   * EventStoreDB position is a byte offset in its log, so there it is bytes of log behind (for
   * events, see projections/status.ts, which reads them).
   */
  lag(): Promise<number>;
  /** Resolves when the subscription fails for good. */
  readonly failed: Promise<Error>;
  /** Commits what was applied, then stops. */
  stop(): Promise<void>;
};

export type RunnerOptions = {
  /** Called after each commit, e.g. for a progress bar. */
  onCommit?: (position: number, applied: number) => void;
};

type Waiter = { position: number; resolve: (reached: boolean) => void; timer: ReturnType<typeof setTimeout> };

/**
 * Events per commit while catching up. Each commit writes every page the batch touched, and
 * random execution ids touch pages all over the indexes: the bigger the batch, the fewer times
 * one page is written (a rebuild of 1 000 000 events wrote 700 MB in batches of 50 000, 450 MB
 * in batches of 100 000). A batch of this size still commits every second or two, and its dirty
 * pages (tens of MB) fit the catch-up cache (tuneForCatchUp).
 */
// Not a web standard, but Node, Bun and Deno all provide it, and unlike setTimeout(0) it runs as
// soon as the pending I/O is done, with no 1 ms clamp on every live commit. Declared here, since
// the core is typechecked without Node's types (tsconfig.core.json).
declare function setImmediate(callback: () => void): unknown;

const MAX_BATCH = 100_000;

/**
 * Feeds every projection from one subscription to all streams, starting at the lowest stored
 * checkpoint; a projection skips the events its own checkpoint has passed. Events are applied in
 * batches, one transaction each, and the checkpoints move in that same transaction.
 */
export async function startProjections(
  store: EventStore,
  db: SqliteDatabase,
  projections: readonly Projection[],
  options: RunnerOptions = {},
): Promise<ProjectionRunner> {
  const checkpoints = new Map<Projection, number>();
  const outdated: Projection[] = [];
  for (const projection of projections) {
    const stored = readCheckpoint(db, projection.name);
    if (stored?.version === projection.version) checkpoints.set(projection, stored.position);
    else {
      outdated.push(projection);
      checkpoints.set(projection, 0);
    }
  }
  resetProjections(db, outdated);
  const startedFrom = Math.min(...checkpoints.values());
  let position = startedFrom;
  let applied = 0;
  let caughtUp = false;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  let waiters: Waiter[] = [];
  const startHead = await headPosition(store);
  // Far behind: tuned for large batches until caught up (a few events behind is live work).
  const restoreLiveSettings = startHead - startedFrom >= MAX_BATCH / 10 ? tuneForCatchUp(db) : () => {};

  let batchEnd: number | undefined; // the position the open transaction reaches
  let batchSize = 0;
  let commitScheduled = false;
  let reportCommitFailure: (error: Error) => void = () => {};
  const commitFailed = new Promise<Error>((resolve) => {
    reportCommitFailure = resolve;
  });

  const settle = () => {
    if (!caughtUp && position >= startHead) {
      caughtUp = true;
      // Called after a commit or before the first begin: no transaction is open.
      restoreLiveSettings();
      markReady();
    }
    if (waiters.length === 0) return;
    waiters = waiters.filter((waiter) => {
      if (waiter.position > position) return true;
      clearTimeout(waiter.timer);
      waiter.resolve(true);
      return false;
    });
  };
  settle();

  const rollback = () => {
    batchEnd = undefined;
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite already rolled back on its own (e.g. SQLITE_FULL); the first error is the one to see.
    }
  };

  const commit = () => {
    commitScheduled = false;
    if (batchEnd === undefined) return;
    const last = batchEnd;
    try {
      for (const projection of projections) {
        if (checkpoints.get(projection)! < last) saveCheckpoint(db, projection, last);
      }
      db.exec('COMMIT');
    } catch (error) {
      rollback();
      throw error;
    }
    for (const projection of projections) checkpoints.set(projection, Math.max(checkpoints.get(projection)!, last));
    batchEnd = undefined;
    batchSize = 0;
    position = last;
    options.onCommit?.(position, applied);
    settle();
  };

  const scheduleCommit = () => {
    if (commitScheduled) return;
    commitScheduled = true;
    setImmediate(() => {
      try {
        commit();
      } catch (error) {
        // The subscription is still running: stop it, so nothing is applied past a lost batch.
        void subscription.close();
        reportCommitFailure(error instanceof Error ? error : new Error(String(error)));
      }
    });
  };

  /** Moves the open transaction (begun if need be) to `end`, applying `work` inside it. */
  const advance = (end: number, work?: () => void) => {
    if (batchEnd === undefined) db.exec('BEGIN IMMEDIATE');
    try {
      work?.();
    } catch (error) {
      rollback();
      throw error;
    }
    batchEnd = end;
    // Catching up, more events are known to follow: a commit per MAX_BATCH events (or on
    // reaching the head) is what makes a rebuild fast. Live, an event usually comes alone and
    // commits on the next turn of the event loop, so read-your-writes waits for no timer.
    if (++batchSize >= MAX_BATCH || (!caughtUp && end >= startHead)) commit();
    else if (caughtUp) scheduleCommit();
  };

  // Unfiltered, so that the position passes every write, including those no projection reads:
  // read-your-writes waits for the position of any command's last event.
  const subscription: Subscription = store.subscribeToAll(
    (event: RecordedEvent) =>
      advance(event.position, () => {
        for (const projection of projections) {
          if (checkpoints.get(projection)! >= event.position) continue;
          if (projection.streamPrefixes.some((prefix) => event.streamName.startsWith(prefix))) projection.apply(event);
        }
        applied++;
      }),
    {
      after: startedFrom,
      // EventStoreDB reports how far it has read past events of no interest (its own): saving
      // that too means a restart does not read them again.
      onCheckpoint: (checkpoint) => {
        if (checkpoint > (batchEnd ?? position)) advance(checkpoint);
      },
    },
  );

  return {
    get position() {
      return position;
    },
    startedFrom,
    get applied() {
      return applied;
    },
    get caughtUp() {
      return caughtUp;
    },
    ready,
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
    async lag() {
      // The runner may have passed the head it reads (EventStoreDB's own events, checkpointed).
      return Math.max(0, (await headPosition(store)) - position);
    },
    failed: Promise.race([subscription.failed, commitFailed]),
    async stop() {
      await subscription.close();
      commit();
      restoreLiveSettings();
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
