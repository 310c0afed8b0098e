/**
 * The api's composition root: from a store, a bus and a read-model database it builds the read
 * models and their runner, the commands' dependencies, the long-running processes (the status
 * recorder, the deadline sweeper, the retry dispatcher, the warm-target sync, the callback
 * sender, the metrics sampler) and the HTTP app. Entries (src/entry/) call it; nothing below
 * imports it.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createReadModels } from '../projections/read-models.ts';
import { createRegistryImageResolver } from './adapters/image-registry/index.ts';
import { startProjections } from '../projections/runner.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { createBcryptHasher } from './auth/passwords.ts';
import type { Config } from './config-type.ts';
import { type AppOptions, createApp } from './http/app.ts';
import type { AppDeps } from './http/deps.ts';
import type { AppEnv } from './http/env.ts';
import { type Logger } from './ports/logger.ts';
import { createMetricsHistory } from './metrics/metrics-history.ts';
import { createMetrics, measurePlatform } from './metrics/metrics.ts';
import type { Clock } from './ports/clock.ts';
import { systemClock } from './ports/clock.ts';
import type { EventStore } from './ports/event-store.ts';
import type { ImageResolver } from './ports/image-resolver.ts';
import type { JobBus } from './ports/job-bus.ts';
import type { KeyStore } from './ports/key-store.ts';
import type { SqliteDatabase } from './ports/sqlite.ts';
import { type CallbackSenderOptions, startCallbackSender } from './processes/callback-sender.ts';
import { startDeadlineSweeper } from './processes/deadline-sweeper.ts';
import { METRICS_SAMPLE_INTERVAL_MS, startMetricsSampler } from './processes/metrics-sampler.ts';
import { startRetryDispatcher } from './processes/retry-dispatcher.ts';
import { startStatusRecorder } from './processes/status-recorder.ts';
import { startWarmTargetSync } from './processes/warm-target-sync.ts';

export type ApiParts = {
  store: EventStore;
  bus: JobBus;
  /** The users' data keys (src/entry/open-key-store.ts); closed by its opener, as the store is. */
  keys: KeyStore;
  /** This api's own read-model database (see projections/read-model-store.ts). */
  readModels: SqliteDatabase;
};

export type ApiOverrides = {
  clock?: Clock;
  newId?: () => string;
  /** Tags to digests; by default the registries' own HTTP API (in-process tests script it). */
  images?: ImageResolver;
  /** The process's one registry, shared with its worker in role `all`; by default one of the api's own. */
  metrics?: AppDeps['metrics'];
  /** Default 5 000. */
  readYourWritesTimeoutMs?: number;
  /** The callback sender's pace and backoff (tests shorten them). */
  callbacks?: CallbackSenderOptions;
  /** How often the metrics history is sampled; default 10 000. */
  metricsSampleIntervalMs?: number;
};

export type RunningApi = {
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps;
  /** Stops the processes and the projections; the store, the bus and the database stay open (their opener closes them). */
  stop(): Promise<void>;
};

export async function startApi(
  config: Config & { jwtSecret: string },
  { store, bus, keys, readModels: readModelDatabase }: ApiParts,
  log: Logger,
  appOptions: AppOptions,
  overrides: ApiOverrides = {},
): Promise<RunningApi> {
  const readModels = createReadModels(readModelDatabase);
  const runner = await startProjections(store, readModelDatabase, readModels.all);
  log('info', 'projections started', { from: runner.startedFrom });
  void runner.ready.then(() => log('info', 'projections caught up', { position: runner.position, applied: runner.applied }));
  const clock = overrides.clock ?? systemClock;
  const metrics = overrides.metrics ?? createMetrics();
  const gauges = measurePlatform(metrics, {
    activeExecutions: () => readModels.executions.active().byStatus,
    jobsWaiting: () => bus.pendingJobs(),
    projectionLag: () => runner.lag(),
  });
  const deps: AppDeps = {
    config,
    store,
    bus,
    keys,
    images: overrides.images ?? createRegistryImageResolver(),
    clock,
    newId: overrides.newId ?? (() => crypto.randomUUID()),
    passwords: createBcryptHasher(config.bcryptCost),
    loginThrottle: createLoginThrottle(),
    projections: { ...readModels, runner },
    readModelDatabase,
    readYourWritesTimeoutMs: overrides.readYourWritesTimeoutMs ?? 5_000,
    metrics,
    metricsHistory: createMetricsHistory({ metrics, gauges, clock }, overrides.metricsSampleIntervalMs ?? METRICS_SAMPLE_INTERVAL_MS),
    log,
  };
  const processes = [
    startStatusRecorder(deps),
    startDeadlineSweeper(deps),
    startRetryDispatcher(deps),
    startWarmTargetSync(deps),
    startCallbackSender(deps, overrides.callbacks),
    startMetricsSampler(deps),
  ];
  return {
    app: createApp(deps, appOptions),
    deps,
    async stop() {
      for (const process of processes.reverse()) await process.stop();
      await runner.stop();
    },
  };
}
