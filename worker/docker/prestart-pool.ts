/**
 * Containers pre-started for the functions this worker ran recently: each created with its function's exact spec and lock-down, started, its
 * agent waiting for the go. An execution that finds one takes it, uses it alone and leaves it to
 * be removed; the pool then starts another. A miss runs cold, so what the pool holds never
 * changes what an execution does, only how soon it starts.
 *
 * How many a function gets: while it is called (its last call less than `idleMs` ago), as many
 * as it has had executions at once lately (at least one); none once idle; never fewer than its
 * owner's minWarm; at most `perFunction`. Never more than `total` for the whole worker, counting
 * those starting.
 */
import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { ContainerRunSpec } from '../../src/ports/container-runtime.ts';
import type { WarmFunctions } from '../../src/ports/job-bus.ts';
import { type Logger, describeError } from '../../src/ports/logger.ts';
import type { ContainerTemplate } from './container-config.ts';
import { type PreparedContainer, removeContainer } from './prepare.ts';
import { warmSet } from './warm-set.ts';

export type PrestartSettings = {
  /** Containers kept per function. */
  perFunction: number;
  /** Containers kept by this worker, for all functions together. */
  total: number;
  /** A function not called for this long keeps none. */
  idleMs: number;
  /** A container older than this is replaced. */
  maxAgeMs: number;
};

/** What a function's containers are made from, and whose they are. */
export type PoolSpec = { functionId: string; ownerId: string; image: string; command: string[] | null; env: Record<string, string>; memoryMb: number };

export type PoolCounts = { ready: number; starting: number; hits: number; misses: number };

export type PrestartPool = {
  /**
   * A ready container for this execution's function and exact spec, taken out of the pool (the
   * caller runs it and removes it); null on a miss. The call counts as the function's use.
   */
  take(spec: ContainerRunSpec): PreparedContainer | null;
  /** The execution the last take (hit or miss) was for has ended. */
  done(functionId: string): void;
  /** Whether the container is this pool's: ready, or starting in this slot. */
  holds(container: { containerId: string; slotId: string | null }): boolean;
  counts(): PoolCounts;
  /** Per function holding any or wanting some (minWarm): for the worker's report, not the hot path. */
  byFunction(): Record<string, { ready: number; starting: number; minWarm: number }>;
  /** Removes every ready container now (disk space is needed); the pool fills again later. */
  drop(): Promise<void>;
  /** The function was deleted: its containers go now, and none is started for it any more. */
  retire(functionId: string): void;
  /** Its owner asked for `minWarm` containers kept ready, called or not (capped by perFunction). */
  setTarget(spec: PoolSpec, minWarm: number): void;
  /** Not any more: it keeps containers only while it is called. */
  clearTarget(functionId: string): void;
  /** The functions with a container ready now: the bus offers their jobs to this worker first. */
  readonly warm: WarmFunctions;
  /** Resolves once the removals of its containers under way now are done. */
  removalsSettled(): Promise<void>;
  /** Removes everything and starts nothing more. */
  close(): Promise<void>;
};

export type PoolBackend = {
  /** Makes a ready container for the function (pulling its image when needed). */
  prepare(spec: PoolSpec, slotId: string): Promise<PreparedContainer>;
  /** Keeps the image from being pruned while a container of it waits; returns the release. */
  hold(image: string): () => void;
};

type Slot = { prepared: PreparedContainer; slotId: string };

type Pooled = {
  spec: PoolSpec;
  key: string;
  ready: Slot[];
  starting: number;
  /** Executions of it running now, and the most at once since it was last idle. */
  inFlight: number;
  peak: number;
  lastCalledAt: number;
  /** After a failed prepare, no new attempt before this (an image that cannot be pulled, a bad spec). */
  retryAt: number;
  /** Kept ready whether it is called or not (its owner's minWarm). */
  minWarm: number;
  releaseImage: (() => void) | null;
};

/** Containers started at once to fill the pool: the cold path shares the engine with them. */
const FILL_CONCURRENCY = 2;
const FILL_BACKOFF_MS = 5_000;
const HOUSEKEEPING_MS = 250;
/**
 * A hit's refill waits this long. Creating and starting the next container costs the engine tens
 * of milliseconds of CPU, and on a small host, beside the execution that took this one, it slowed
 * that execution's first milliseconds: a pre-started `true` answered in 14 ms rather than 16. A
 * miss fills at once.
 */
const REFILL_DELAY_MS = 20;

export function createPrestartPool(settings: PrestartSettings, backend: PoolBackend, log: Logger, now = () => performance.now()): PrestartPool {
  const functions = new Map<string, Pooled>();
  const containers = new Set<string>();
  const startingSlots = new Set<string>();
  let filling = 0;
  let closed = false;
  let refill: ReturnType<typeof setTimeout> | undefined;
  let hits = 0;
  let misses = 0;

  /** The functions with a container ready now. */
  const readyFunctionIds = () => [...functions.values()].filter((f) => f.ready.length > 0).map((f) => f.spec.functionId);
  const warm = warmSet(readyFunctionIds, (functionId) => (functions.get(functionId)?.ready.length ?? 0) > 0);
  /** Tells the listeners when the set of functions with a ready container changed. */
  const readyChanged = warm.changed;

  const held = () => [...functions.values()].reduce((sum, f) => sum + f.ready.length + f.starting, 0);
  const wanted = (f: Pooled) => {
    const called = now() - f.lastCalledAt < settings.idleMs;
    return Math.min(settings.perFunction, Math.max(f.minWarm, called ? Math.max(1, f.peak) : 0));
  };

  /** Starts and removals under way: close() waits for both, so a stopped worker leaves no container. */
  const fills = new Set<Promise<unknown>>();
  const removals = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>, set: Set<Promise<unknown>>) => {
    set.add(work);
    const untrack = () => set.delete(work);
    void work.then(untrack, untrack);
  };
  const settled = async (set: Set<Promise<unknown>>) => {
    while (set.size > 0) await Promise.allSettled([...set]);
  };

  const discard = (slot: Slot) => {
    containers.delete(slot.prepared.container.id);
    slot.prepared.session.close();
    track(removeContainer(slot.prepared.container), removals);
    queueMicrotask(readyChanged);
  };

  /** Out of the pool: its image may be pruned again. A container of it still starting is discarded when ready. */
  const remove = (f: Pooled) => {
    f.releaseImage?.();
    f.releaseImage = null;
    functions.delete(f.spec.functionId);
  };

  const forget = (f: Pooled) => {
    for (const slot of f.ready.splice(0)) discard(slot);
    if (f.starting === 0 && f.inFlight === 0) remove(f);
  };

  const entryFor = (called: PoolSpec): Pooled => {
    const spec = poolSpecOf(called);
    const key = keyOf(spec);
    let f = functions.get(spec.functionId);
    if (f && f.key !== key) {
      // The function changed (a new version): what was started for the old spec must not run.
      for (const slot of f.ready.splice(0)) discard(slot);
      f.releaseImage?.();
      f.releaseImage = backend.hold(spec.image);
      f.spec = spec;
      f.key = key;
      f.retryAt = 0;
    }
    if (!f) {
      f = { spec, key, ready: [], starting: 0, inFlight: 0, peak: 0, lastCalledAt: -Infinity, retryAt: 0, minWarm: 0, releaseImage: backend.hold(spec.image) };
      functions.set(spec.functionId, f);
    }
    return f;
  };

  const fillOne = (f: Pooled) => {
    filling += 1;
    f.starting += 1;
    const slotId = randomUUID();
    startingSlots.add(slotId);
    const key = f.key;
    const filled = backend
      .prepare(f.spec, slotId)
      .then(
        (prepared) => {
          containers.add(prepared.container.id);
          const slot = { prepared, slotId };
          const current = functions.get(f.spec.functionId);
          // Closed, or the function changed while it started: not for anyone any more.
          if (closed || current !== f || f.key !== key) return discard(slot);
          f.ready.push(slot);
          readyChanged();
          // One that dies while it waits (killed from outside, the engine restarting) leaves.
          void prepared.session.ended.then(() => {
            const index = f.ready.indexOf(slot);
            if (index >= 0) {
              f.ready.splice(index, 1);
              discard(slot);
            }
          });
        },
        (error: unknown) => {
          f.retryAt = now() + FILL_BACKOFF_MS;
          log('warn', 'container could not be pre-started', { functionId: f.spec.functionId, image: f.spec.image, ...describeError(error) });
        },
      )
      .finally(() => {
        startingSlots.delete(slotId);
        filling -= 1;
        f.starting -= 1;
        fill();
      });
    track(filled, fills);
  };

  /** Starts what is missing, most wanted first, within the limits. */
  const fill = () => {
    if (closed) return;
    for (const f of functions.values()) {
      while (filling < FILL_CONCURRENCY && held() < settings.total && f.retryAt <= now() && f.ready.length + f.starting < wanted(f)) fillOne(f);
    }
  };

  const fillSoon = () => {
    refill ??= setTimeout(() => {
      refill = undefined;
      fill();
    }, REFILL_DELAY_MS);
  };

  /** Idle functions shrink to none; old containers are replaced. */
  const housekeeping = setInterval(() => {
    const at = now();
    for (const f of [...functions.values()]) {
      for (const slot of f.ready.filter((s) => at - s.prepared.readyAt > settings.maxAgeMs)) {
        f.ready.splice(f.ready.indexOf(slot), 1);
        discard(slot);
      }
      if (at - f.lastCalledAt >= settings.idleMs) f.peak = f.inFlight;
      const excess = f.ready.length - wanted(f);
      // The oldest go first: the newest have the longest time left before their maximum age.
      for (const slot of f.ready.splice(0, Math.max(0, excess))) discard(slot);
      if (wanted(f) === 0 && f.ready.length === 0) forget(f);
    }
    fill();
  }, HOUSEKEEPING_MS);
  housekeeping.unref();

  return {
    take(spec) {
      if (closed || settings.perFunction === 0 || settings.total === 0) return null;
      const f = entryFor(spec);
      f.lastCalledAt = now();
      f.inFlight += 1;
      f.peak = Math.max(f.peak, f.inFlight);
      const slot = f.ready.shift();
      if (slot) {
        containers.delete(slot.prepared.container.id);
        hits += 1;
        readyChanged();
      } else {
        misses += 1;
      }
      if (slot) fillSoon();
      else fill();
      return slot?.prepared ?? null;
    },
    done(functionId) {
      const f = functions.get(functionId);
      if (f) f.inFlight = Math.max(0, f.inFlight - 1);
    },
    holds: ({ containerId, slotId }) => containers.has(containerId) || (slotId !== null && startingSlots.has(slotId)),
    counts: () => ({
      ready: [...functions.values()].reduce((sum, f) => sum + f.ready.length, 0),
      starting: [...functions.values()].reduce((sum, f) => sum + f.starting, 0),
      hits,
      misses,
    }),
    byFunction() {
      const counts: Record<string, { ready: number; starting: number; minWarm: number }> = {};
      for (const f of functions.values()) {
        if (f.ready.length + f.starting + f.minWarm > 0) counts[f.spec.functionId] = { ready: f.ready.length, starting: f.starting, minWarm: f.minWarm };
      }
      return counts;
    },
    retire(functionId) {
      const f = functions.get(functionId);
      if (!f) return;
      for (const slot of f.ready.splice(0)) discard(slot);
      remove(f);
      readyChanged();
    },
    setTarget(spec, minWarm) {
      if (closed) return;
      entryFor(spec).minWarm = minWarm;
      fill();
    },
    clearTarget(functionId) {
      const f = functions.get(functionId);
      if (f) f.minWarm = 0;
    },
    warm: warm.warm,
    async drop() {
      for (const slot of [...functions.values()].flatMap((f) => f.ready.splice(0))) discard(slot);
      await settled(removals);
    },
    removalsSettled: () => settled(removals),
    async close() {
      closed = true;
      clearInterval(housekeeping);
      clearTimeout(refill);
      // A container still starting is discarded when its start ends (closed): wait for both.
      await settled(fills);
      await this.drop();
      for (const f of functions.values()) f.releaseImage?.();
      functions.clear();
    },
  };
}

/**
 * The fields of a run's spec that a pool keeps: a pool holds its spec for as long as it makes
 * containers of it, and a run's spec also carries that call's stdin and secrets, which must not
 * outlive the call.
 */
export const poolSpecOf = ({ functionId, ownerId, image, command, env, memoryMb }: PoolSpec): PoolSpec => ({ functionId, ownerId, image, command, env, memoryMb });

/** Two specs give the same key only when their containers would be the same, owner included. */
export function keyOf(spec: PoolSpec): string {
  const env = Object.entries(spec.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([spec.ownerId, spec.image, spec.command, env, spec.memoryMb]))
    .digest('hex');
}

export const templateOf = (spec: PoolSpec, argv: string[], reuse = false): ContainerTemplate => ({ image: spec.image, argv, env: spec.env, memoryMb: spec.memoryMb, reuse });
