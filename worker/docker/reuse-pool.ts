/**
 * Containers that serve successive executions of one function, for the functions whose owner
 * asked for it (`reuse`). An execution borrows a clean container of its function (its exact spec,
 * its owner: never another's), and gives it back when it ends; the agent then kills every process
 * the execution left and empties /tmp (worker/agent/protocol.ts), and only a container whose agent
 * said it is clean serves again. Anything else (a timeout, a SIGKILL, an agent that died or could
 * not clean) discards it, as does reaching the executions or the age a container may serve.
 *
 * How many a function keeps: the containers its executions at once needed, at most `perFunction`
 * (the worker's concurrency), or its owner's minWarm; none once it was not called for `idleMs`.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { StartKind } from '../../src/domain/execution-outcome.ts';
import type { WarmFunctions } from '../../src/ports/job-bus.ts';
import { type Logger, describeError } from '../../src/ports/logger.ts';
import { type PreparedContainer, removeContainer } from './prepare.ts';
import { type PoolSpec, keyOf, poolSpecOf } from './prestart-pool.ts';
import { warmSet } from './warm-set.ts';

export type ReuseSettings = {
  /** Executions one container serves before it is replaced. */
  maxExecutions: number;
  /** A container older than this serves no more. */
  maxAgeMs: number;
  /** A function not called for this long keeps none. */
  idleMs: number;
  /** Clean containers kept per function: the worker's concurrency. */
  perFunction: number;
};

export type ReuseBackend = {
  /** Makes a ready container for the function in reuse mode (pulling its image when needed). */
  prepare(spec: PoolSpec, slotId: string): Promise<PreparedContainer>;
  /** Keeps the image from being pruned while a container of it waits; returns the release. */
  hold(image: string): () => void;
};

/** A container borrowed by one execution. */
export type Borrowed = {
  prepared: PreparedContainer;
  /** prestarted: made ahead of the call (minWarm); cold: made for it; reused: it served before. */
  start: StartKind;
  /** The execution ended; `reusable` false (timed out, killed, failed) discards the container. */
  giveBack(reusable: boolean): void;
};

export type ReuseCounts = { idle: number; busy: number };

export type ReusePool = {
  /**
   * A clean container of this function, waiting a little for one being cleaned now; null when
   * there is none: the caller makes one (`slotFor`, then `adopt`).
   */
  borrow(spec: PoolSpec): Promise<Borrowed | null>;
  /** A new container's slot id, held (for the reaper) until `adopt` or `abandon`. */
  slotFor(): string;
  adopt(spec: PoolSpec, prepared: PreparedContainer, slotId: string): Borrowed;
  abandon(slotId: string): void;
  holds(container: { containerId: string; slotId: string | null }): boolean;
  counts(): ReuseCounts;
  /** Per function holding any: for the worker's report. */
  byFunction(): Record<string, ReuseCounts>;
  retire(functionId: string): void;
  setTarget(spec: PoolSpec, minWarm: number): void;
  clearTarget(functionId: string): void;
  /** Removes every idle container now (disk space is needed). */
  drop(): Promise<void>;
  readonly warm: WarmFunctions;
  removalsSettled(): Promise<void>;
  /** Removes the idle ones; the busy ones are removed as they come back. */
  close(): Promise<void>;
};

/** Long enough for an agent to kill what an execution left and empty /tmp. */
const CLEAN_TIMEOUT_MS = 5_000;
/** A call waits this long for a container being cleaned before it makes one (a cold start takes longer). */
const BORROW_WAIT_MS = 150;
const HOUSEKEEPING_MS = 1_000;

/** `key`: the spec it was made from (keyOf): a function that changed since gets none of it. */
type Container = { prepared: PreparedContainer; slotId: string; key: string; executions: number; bornAt: number; start: StartKind };

type Entry = {
  spec: PoolSpec;
  key: string;
  idle: Container[];
  /** Borrowed, or given back and being cleaned. */
  busy: number;
  /** Calls waiting for a container being cleaned. */
  waiting: ((container: Container | null) => void)[];
  lastCalledAt: number;
  minWarm: number;
  starting: number;
  retryAt: number;
  releaseImage: () => void;
};

export function createReusePool(settings: ReuseSettings, backend: ReuseBackend, log: Logger, now = () => performance.now()): ReusePool {
  const entries = new Map<string, Entry>();
  /** Every container this pool has (idle, busy, cleaning) and slots being made: not the reaper's. */
  const containers = new Set<string>();
  const slots = new Set<string>();
  const removals = new Set<Promise<void>>();
  /** Containers given back and being cleaned: close() waits for them. */
  const returning = new Set<Promise<void>>();
  /** Deleted functions: an execution queued before the deletion still runs, in a container that serves no other. */
  const retired = new Set<string>();
  let closed = false;

  /**
   * Warm: the functions with a container here, idle or busy. A busy one is back within
   * milliseconds of its execution's end (borrow waits for it), and a job placed here rather than
   * queued for all keeps the function's executions on the containers it already has.
   */
  const holdsAny = (entry: Entry | undefined) => entry !== undefined && entry.idle.length + entry.busy > 0;
  const warm = warmSet(
    () => [...entries.values()].filter(holdsAny).map((entry) => entry.spec.functionId),
    (functionId) => holdsAny(entries.get(functionId)),
  );
  const warmChanged = warm.changed;

  const discard = (container: Container) => {
    containers.delete(container.prepared.container.id);
    slots.delete(container.slotId);
    container.prepared.session.close();
    const removal = removeContainer(container.prepared.container).finally(() => removals.delete(removal));
    removals.add(removal);
  };

  const entryFor = (called: PoolSpec): Entry => {
    const spec = poolSpecOf(called);
    const key = keyOf(spec);
    let entry = entries.get(spec.functionId);
    if (entry && entry.key !== key) {
      // The function changed: what served the old spec must not serve the new one.
      for (const container of entry.idle.splice(0)) discard(container);
      entry.releaseImage();
      entry.releaseImage = backend.hold(spec.image);
      entry.spec = spec;
      entry.key = key;
    }
    if (!entry) {
      entry = { spec, key, idle: [], busy: 0, waiting: [], lastCalledAt: -Infinity, minWarm: 0, starting: 0, retryAt: 0, releaseImage: backend.hold(spec.image) };
      // Not kept for a deleted function: what it lends is discarded when given back.
      if (retired.has(spec.functionId)) entry.releaseImage();
      else entries.set(spec.functionId, entry);
    }
    return entry;
  };

  const serves = (entry: Entry, container: Container) =>
    !closed &&
    entries.get(entry.spec.functionId) === entry &&
    container.key === entry.key &&
    container.executions < settings.maxExecutions &&
    now() - container.bornAt < settings.maxAgeMs;

  /** A clean container back, to a waiting call or the idle list; else removed. */
  const shelve = (entry: Entry, container: Container) => {
    const waiter = serves(entry, container) ? entry.waiting.shift() : undefined;
    if (waiter) return waiter(container);
    if (!serves(entry, container) || entry.idle.length >= Math.max(settings.perFunction, entry.minWarm)) {
      discard(container);
      wakeOne(entry);
      return warmChanged();
    }
    entry.idle.push(container);
    // One that dies while it waits (killed from outside, the engine restarting) leaves.
    void container.prepared.session.ended.then(() => {
      const index = entry.idle.indexOf(container);
      if (index < 0) return;
      entry.idle.splice(index, 1);
      discard(container);
      warmChanged();
    });
    warmChanged();
  };

  const lend = (entry: Entry, container: Container): Borrowed => {
    entry.busy += 1;
    warmChanged();
    const start = container.start;
    container.start = 'reused';
    container.executions += 1;
    let given = false;
    return {
      prepared: container.prepared,
      start,
      giveBack(reusable) {
        if (given) return;
        given = true;
        if (!reusable) {
          entry.busy -= 1;
          discard(container);
          warmChanged();
          return wakeOne(entry);
        }
        const { session } = container.prepared;
        const timeout = new Promise<boolean>((resolve) => setTimeout(resolve, CLEAN_TIMEOUT_MS, false).unref());
        const back = Promise.race([session.cleaned, timeout]).then((clean) => {
          entry.busy -= 1;
          if (!clean) {
            discard(container);
            warmChanged();
            return wakeOne(entry);
          }
          shelve(entry, { ...container, prepared: { ...container.prepared, session: session.next() } });
        });
        returning.add(back);
        void back.finally(() => returning.delete(back));
      },
    };
  };

  /** A container went away while calls waited for one: the first of them makes its own. */
  const wakeOne = (entry: Entry) => {
    if (entry.busy + entry.starting < entry.waiting.length) entry.waiting.shift()?.(null);
  };

  /** Containers of functions whose owner asked for some ahead of calls (minWarm). */
  const fill = (entry: Entry) => {
    while (!closed && entry.retryAt <= now() && entry.idle.length + entry.busy + entry.starting < entry.minWarm) {
      entry.starting += 1;
      const { key } = entry;
      const slotId = randomUUID();
      slots.add(slotId);
      void backend
        .prepare(entry.spec, slotId)
        .then(
          (prepared) => {
            containers.add(prepared.container.id);
            shelve(entry, { prepared, slotId, key, executions: 0, bornAt: now(), start: 'prestarted' });
          },
          (error: unknown) => {
            slots.delete(slotId);
            entry.retryAt = now() + 5_000;
            log('warn', 'reused container could not be started', { functionId: entry.spec.functionId, image: entry.spec.image, ...describeError(error) });
          },
        )
        .finally(() => {
          entry.starting -= 1;
          wakeOne(entry);
        });
    }
  };

  const forget = (entry: Entry) => {
    for (const container of entry.idle.splice(0)) discard(container);
    for (const waiter of entry.waiting.splice(0)) waiter(null);
    entry.releaseImage();
    entries.delete(entry.spec.functionId);
    warmChanged();
  };

  const housekeeping = setInterval(() => {
    const at = now();
    for (const entry of [...entries.values()]) {
      for (const container of entry.idle.filter((c) => at - c.bornAt >= settings.maxAgeMs)) {
        entry.idle.splice(entry.idle.indexOf(container), 1);
        discard(container);
      }
      if (at - entry.lastCalledAt >= settings.idleMs) {
        for (const container of entry.idle.splice(entry.minWarm)) discard(container);
        if (entry.minWarm === 0 && entry.busy === 0 && entry.starting === 0) forget(entry);
      }
      fill(entry);
    }
    warmChanged();
  }, HOUSEKEEPING_MS);
  housekeeping.unref();

  return {
    async borrow(spec) {
      if (closed) return null;
      const entry = entryFor(spec);
      entry.lastCalledAt = now();
      const ready = entry.idle.shift();
      if (ready) {
        warmChanged();
        return lend(entry, ready);
      }
      if (entry.busy + entry.starting <= entry.waiting.length) return null;
      // One is being cleaned or started (minWarm): faster than making one.
      const container = await new Promise<Container | null>((resolve) => {
        const waiter = (value: Container | null) => {
          clearTimeout(timer);
          resolve(value);
        };
        const timer = setTimeout(() => {
          entry.waiting.splice(entry.waiting.indexOf(waiter), 1);
          resolve(null);
        }, BORROW_WAIT_MS);
        entry.waiting.push(waiter);
      });
      return container ? lend(entry, container) : null;
    },
    slotFor() {
      const slotId = randomUUID();
      slots.add(slotId);
      return slotId;
    },
    adopt(spec, prepared, slotId) {
      containers.add(prepared.container.id);
      const entry = entryFor(spec);
      return lend(entry, { prepared, slotId, key: entry.key, executions: 0, bornAt: now(), start: 'cold' });
    },
    abandon: (slotId) => void slots.delete(slotId),
    holds: ({ containerId, slotId }) => containers.has(containerId) || (slotId !== null && slots.has(slotId)),
    counts: () => ({
      idle: [...entries.values()].reduce((sum, e) => sum + e.idle.length, 0),
      busy: [...entries.values()].reduce((sum, e) => sum + e.busy, 0),
    }),
    byFunction() {
      const counts: Record<string, ReuseCounts> = {};
      for (const entry of entries.values()) {
        if (entry.idle.length + entry.busy > 0) counts[entry.spec.functionId] = { idle: entry.idle.length, busy: entry.busy };
      }
      return counts;
    },
    retire(functionId) {
      retired.add(functionId);
      const entry = entries.get(functionId);
      if (entry) forget(entry);
    },
    setTarget(spec, minWarm) {
      if (closed) return;
      const entry = entryFor(spec);
      entry.minWarm = Math.min(minWarm, settings.perFunction);
      fill(entry);
    },
    clearTarget(functionId) {
      const entry = entries.get(functionId);
      if (entry) entry.minWarm = 0;
    },
    async drop() {
      for (const entry of entries.values()) for (const container of entry.idle.splice(0)) discard(container);
      warmChanged();
      await this.removalsSettled();
    },
    warm: warm.warm,
    async removalsSettled() {
      while (removals.size > 0) await Promise.allSettled([...removals]);
    },
    async close() {
      closed = true;
      clearInterval(housekeeping);
      for (const entry of [...entries.values()]) forget(entry);
      // What executions gave back is discarded once its agent answered (closed: none serves again).
      while (returning.size > 0) await Promise.allSettled([...returning]);
      await this.removalsSettled();
    },
  };
}
