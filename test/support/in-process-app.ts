/**
 * The api in process for the app suites (test/*.app.test.ts): the Hono app driven with
 * `app.request()` over the memory store, the in-process bus, read models in an in-memory SQLite,
 * a fixed clock and a scripted container runtime, with a worker when the test wants one. The
 * store and the bus are wrapped so a test can inject faults (test/support/faults.ts).
 * This is the one file that knows how the api is composed: when that changes, only it follows.
 */
import { createMemoryEventStore } from '../../src/adapters/event-store/index.ts';
import { createInProcessJobBus } from '../../src/adapters/job-bus/index.ts';
import { openBetterSqlite3 } from '../../src/adapters/sqlite/better-sqlite3-driver.ts';
import type { Config } from '../../src/config-type.ts';
import { loadConfig } from '../../src/config.ts';
import { installedDocs } from '../../src/adapters/package-files/index.ts';
import { type ApiOverrides, type RunningApi, startApi } from '../../src/api.ts';
import { createEphemeralKeyStore } from '../../src/adapters/key-store/index.ts';
import type { KeyStore } from '../../src/ports/key-store.ts';
import type { AppDeps } from '../../src/http/deps.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { sweepDeadlines } from '../../src/processes/deadline-sweeper.ts';
import { dispatchDueRetries } from '../../src/processes/retry-dispatcher.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { EventStore, RecordedEvent } from '../../src/ports/event-store.ts';
import { type RunningWorker, type WorkerOptions, startWorker } from '../../worker/worker.ts';
import { startWorkerReports } from '../../worker/report.ts';
import { type Requester } from './api.ts';
import { type FaultyBus, type FaultyStore, faultyBus, faultyStore } from './faults.ts';
import { send } from './http-client.ts';
import { type ScriptedImages, createScriptedImages } from './scripted-images.ts';
import { type ScriptedRuntime, createScriptedRuntime } from './scripted-runtime.ts';

/** Stands still until the test moves it: deadlines, leases and sweeps happen when the test says. */
export type FixedClock = Clock & { advance(ms: number): void; set(at: Date): void };

/**
 * Starts at the real time: tokens are signed with its times and checked against the real one
 * (`iat` must not be in the future), and the waiting request's live actor counts down to the
 * deadline in real time.
 */
export function fixedClock(at = new Date()): FixedClock {
  let now = at.getTime();
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
    set: (to) => {
      now = to.getTime();
    },
  };
}

export type LogLine = { level: string; message: string; fields: Record<string, unknown> };

export type InProcessAppOptions = {
  /** Changes to the settings; by default loadConfig's defaults, with bcrypt at its cheapest. */
  config?: (config: Config & { jwtSecret: string }) => Config & { jwtSecret: string };
  /** Start a worker with the app (default), with these options; false: none until startWorker. */
  worker?: false | Partial<WorkerOptions>;
  /** The api's callback sender's pace and backoff (test/callbacks.app.test.ts shortens them). */
  callbacks?: ApiOverrides['callbacks'];
  /** The users' data keys; by default a memory store under a master key of its own. */
  keys?: KeyStore;
  /** How often the api samples its metrics history on its own (default 10 s); `sampleMetrics` samples now. */
  metricsSampleIntervalMs?: number;
  /** How often the workers report on themselves (worker/report.ts); by default as in production. */
  workerReportIntervalMs?: number;
};

export type InProcessApp = {
  /** One request to the app, as `call` sends one to a server. */
  request: Requester;
  /** One request to the app as fetch sends it, the answer untouched (the console's pages, cookies, redirects). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The store the app uses: faults injected here hit the api, the recorder and the sweeper. */
  store: FaultyStore;
  /** The users' data keys the api uses. */
  keys: KeyStore;
  /** The same store read past the faults: what is stored, for a test's own assertions. */
  stored: EventStore;
  bus: FaultyBus;
  clock: FixedClock;
  runtime: ScriptedRuntime;
  /** The registry the api resolves tags in: every image resolves until the test says otherwise. */
  images: ScriptedImages;
  /** What the api's routes and commands were given: its config, read models, metrics. */
  deps: AppDeps;
  /** The worker started with the app, when there is one. */
  worker: RunningWorker | undefined;
  /** Another worker on the same bus and runtime (ids `worker-2`, `worker-3`, …). */
  startWorker(options?: Partial<WorkerOptions>): RunningWorker;
  /** A stream's events, as stored (read past the faults). */
  events(streamName: string): Promise<RecordedEvent[]>;
  /**
   * One pass of the deadline sweeper now, as the platform runs one every second: for tests whose
   * subject is not the sweeper's timer. Resolves with the number of executions it ended.
   */
  sweepDeadlines(): Promise<number>;
  /** One pass of the retry dispatcher now (it runs four times a second on its own): how many it handed out. */
  dispatchRetries(): Promise<number>;
  /** One sample of the api's metrics history now, as its sampler takes one every interval: the point it added. */
  sampleMetrics(): ReturnType<AppDeps['metricsHistory']['sample']>;
  /** What the api and the workers logged, for the message of a failed assertion. */
  logs: LogLine[];
  stop(): Promise<void>;
};

export const JWT_SECRET = 'app-suites-secret-at-least-32-bytes!';
/** bcrypt's cheapest cost, far below what FAASBOX_BCRYPT_COST accepts: hashing is not under test here. */
const BCRYPT_COST = 4;

export async function startInProcessApp(options: InProcessAppOptions = {}): Promise<InProcessApp> {
  const defaults = { ...loadConfig({}), jwtSecret: JWT_SECRET, bcryptCost: BCRYPT_COST };
  const config = options.config ? options.config(defaults) : defaults;
  const clock = fixedClock();
  const stored = createMemoryEventStore();
  const store = faultyStore(stored);
  const bus = faultyBus(createInProcessJobBus());
  const readModels = openBetterSqlite3(':memory:');
  const runtime = createScriptedRuntime();
  const keys = options.keys ?? (await createEphemeralKeyStore());
  const images = createScriptedImages();
  const logs: LogLine[] = [];
  const log: Logger = (level, message, fields = {}) => logs.push({ level, message, fields });

  const api: RunningApi = await startApi(
    config,
    { store, bus, keys, readModels },
    log,
    {
      docs: installedDocs(),
      clientAddressOf: () => '192.0.2.1',
      reportError: (error) => log('error', 'unexpected', { error: String(error) }),
    },
    { clock, images, callbacks: options.callbacks, metricsSampleIntervalMs: options.metricsSampleIntervalMs },
  );
  const { app, deps } = api;
  const request: Requester = (method, path, requestOptions) => send((to, init) => app.request(to, init), method, path, requestOptions);
  const fetchApp = async (path: string, init?: RequestInit) => app.request(`http://faasbox.test${path}`, init);

  const workers: RunningWorker[] = [];
  const addWorker = (workerOptions: Partial<WorkerOptions> = {}) => {
    const settings: WorkerOptions = {
      workerId: `worker-${workers.length + 1}`,
      concurrency: 4,
      now: clock.now,
      // A teardown kills what still runs; a drain test sets its own.
      drainTimeoutMs: 0,
      ...workerOptions,
    };
    const running = startWorker(bus, runtime, log, settings);
    // Reports as worker/start.ts has a Docker worker report, with what a scripted runtime has to say.
    const reports = startWorkerReports(bus, {
      workerId: settings.workerId,
      concurrency: settings.concurrency,
      now: clock.now,
      log,
      ...(options.workerReportIntervalMs === undefined ? {} : { intervalMs: options.workerReportIntervalMs }),
      figures: async () => ({ inFlight: running.inFlight, prestarted: {}, reused: {}, engineReachable: null, disk: null, lastPrunes: [] }),
    });
    let stopping: Promise<void> | undefined;
    const worker: RunningWorker = {
      stop: () =>
        (stopping ??= (async () => {
          const announced = reports.stopping();
          await running.stop();
          await announced;
          await reports.stopped();
        })()),
      get inFlight() {
        return running.inFlight;
      },
    };
    workers.push(worker);
    return worker;
  };
  const worker = options.worker === false ? undefined : addWorker(options.worker);

  let stopping: Promise<void> | undefined;
  return {
    request,
    fetch: fetchApp,
    store,
    stored,
    keys,
    bus,
    clock,
    runtime,
    images,
    deps,
    worker,
    startWorker: addWorker,
    events: (streamName) => stored.readStream(streamName),
    sweepDeadlines: () => sweepDeadlines(deps),
    dispatchRetries: () => dispatchDueRetries(deps),
    sampleMetrics: () => deps.metricsHistory.sample(),
    logs,
    stop() {
      stopping ??= (async () => {
        store.heal();
        bus.heal();
        runtime.close();
        await Promise.all(workers.map((each) => each.stop()));
        await api.stop();
        await bus.close();
        await store.close();
        readModels.close();
      })();
      return stopping;
    },
  };
}

/** Runs `body` over a fresh app and stops it after, whatever happened. */
export async function withApp(options: InProcessAppOptions, body: (app: InProcessApp) => Promise<void>): Promise<void> {
  const app = await startInProcessApp(options);
  try {
    await body(app);
  } finally {
    await app.stop();
  }
}

/** The image the app suites' functions name; the scripted registry resolves it, the scripted runtime never pulls it. */
export const IMAGE = 'registry.test/scripted:1';
