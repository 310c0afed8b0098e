/**
 * Faults on demand for the app suites: the memory store and the in-process bus, wrapped so that
 * a test can make the next append conflict, a write of "another api" land first, a publish find
 * the bus down. Everything else passes through unchanged.
 */
import {
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadStreamOptions,
  WrongExpectedRevisionError,
} from '../../src/ports/event-store.ts';
import { BusUnavailableError, type Job, type JobBus, type StatusMessage } from '../../src/ports/job-bus.ts';

type Hook<Args extends unknown[]> = { applies: (...args: Args) => boolean; remaining: number; action: (...args: Args) => unknown };

/** Actions run before an operation: each for its next `times` matching calls, in the order added. */
class Hooks<Args extends unknown[]> {
  #hooks: Hook<Args>[] = [];

  add(applies: (...args: Args) => boolean, action: (...args: Args) => unknown, times: number) {
    this.#hooks.push({ applies, remaining: times, action });
  }

  /** What an action throws, the operation throws. */
  async run(...args: Args) {
    for (const hook of this.#hooks) {
      if (hook.remaining <= 0 || !hook.applies(...args)) continue;
      hook.remaining--;
      await hook.action(...args);
    }
    this.#hooks = this.#hooks.filter((hook) => hook.remaining > 0);
  }

  clear() {
    this.#hooks = [];
  }
}

export type AppendArgs = [streamName: string, events: readonly NewEvent[], expected: ExpectedRevision];

export type FaultyStore = EventStore & {
  /** Runs `action` before the next `times` appends to a stream whose name starts with `prefix`. */
  beforeAppend(prefix: string, action: (...args: AppendArgs) => unknown, times?: number): void;
  /** Runs `action` before the next `times` reads of a stream whose name starts with `prefix`. */
  beforeRead(prefix: string, action: (streamName: string) => unknown, times?: number): void;
  /** Appends refused for a conflict so far, by stream: the contention a test provoked. */
  readonly conflicts: ReadonlyMap<string, number>;
  /** Drops every action not yet run. */
  heal(): void;
};

export function faultyStore(inner: EventStore): FaultyStore {
  const appends = new Hooks<AppendArgs>();
  const reads = new Hooks<[string]>();
  const conflicts = new Map<string, number>();
  return {
    ...inner,
    async append(streamName, events, expected) {
      try {
        await appends.run(streamName, events, expected);
        return await inner.append(streamName, events, expected);
      } catch (error) {
        if (error instanceof WrongExpectedRevisionError) conflicts.set(streamName, (conflicts.get(streamName) ?? 0) + 1);
        throw error;
      }
    },
    async readStream(streamName: string, options?: ReadStreamOptions) {
      await reads.run(streamName);
      return inner.readStream(streamName, options);
    },
    beforeAppend: (prefix, action, times = 1) => appends.add((stream) => stream.startsWith(prefix), action, times),
    beforeRead: (prefix, action, times = 1) => reads.add((stream) => stream.startsWith(prefix), action, times),
    conflicts,
    heal: () => {
      appends.clear();
      reads.clear();
    },
  };
}

/** An action that refuses the append as if another writer had just written to its stream. */
export const conflict = (streamName: string, _events: readonly NewEvent[], expected: ExpectedRevision): never => {
  throw new WrongExpectedRevisionError(streamName, expected, typeof expected === 'number' ? expected + 1 : 0);
};

/**
 * An action that holds each of the first `count` calls until all `count` have arrived: that
 * many commands that read the same revision then append at once, the race made certain.
 */
export function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return () => {
    arrived++;
    if (arrived >= count) open();
    return opened;
  };
}

export type FaultyBus = JobBus & {
  beforePublishJob(action: (job: Job) => unknown, times?: number): void;
  beforeWatch(action: (executionId: string) => unknown, times?: number): void;
  beforePublishStatus(action: (status: StatusMessage) => unknown, times?: number): void;
  heal(): void;
};

/** An action that finds the bus down, as a broker that cannot make the message durable now. */
export const busDown = (): never => {
  throw new BusUnavailableError('the bus is down (injected by the test)');
};

export function faultyBus(inner: JobBus): FaultyBus {
  const publishJobs = new Hooks<[Job]>();
  const watches = new Hooks<[string]>();
  const publishStatuses = new Hooks<[StatusMessage]>();
  const always = () => true;
  return {
    ...inner,
    async publishJob(job) {
      await publishJobs.run(job);
      return inner.publishJob(job);
    },
    async watchStatuses(executionId, handler) {
      await watches.run(executionId);
      return inner.watchStatuses(executionId, handler);
    },
    async publishStatus(status) {
      await publishStatuses.run(status);
      return inner.publishStatus(status);
    },
    beforePublishJob: (action, times = 1) => publishJobs.add(always, action, times),
    beforeWatch: (action, times = 1) => watches.add(always, action, times),
    beforePublishStatus: (action, times = 1) => publishStatuses.add(always, action, times),
    heal: () => {
      publishJobs.clear();
      watches.clear();
      publishStatuses.clear();
    },
  };
}
