import type { Config } from './config.ts';
import type { PasswordHasher } from './auth/passwords.ts';
import type { LoginThrottle } from './auth/login-throttle.ts';
import type { Clock } from './ports/clock.ts';
import type { EventStore } from './ports/event-store.ts';
import type { Consumer, JobBus } from './ports/job-bus.ts';
import type { SqliteDatabase } from './ports/sqlite.ts';
import { type ReadModels, createReadModels } from '../projections/read-models.ts';
import { type ProjectionRunner, startProjections } from '../projections/runner.ts';
import { createBcryptHasher } from './auth/passwords.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { systemClock } from './ports/clock.ts';
import { recordStatuses } from './commands/record-statuses.ts';
import { sweepDeadlines } from './commands/sweep-deadlines.ts';
import type { Logger } from './log.ts';
import { describeError } from './log.ts';
import { type Metrics, createMetrics, measurePlatform } from './metrics/metrics.ts';

/** Everything a command or a route needs, built once at start and passed down. */
export type Platform = {
  config: Config & { jwtSecret: string };
  store: EventStore;
  bus: JobBus;
  clock: Clock;
  newId: () => string;
  passwords: PasswordHasher;
  loginThrottle: LoginThrottle;
  projections: ReadModels & { runner: ProjectionRunner };
  /** Where the read models and their checkpoints live. */
  readModelDatabase: SqliteDatabase;
  /** How long a write waits for the projections to show it before answering anyway. */
  readYourWritesTimeoutMs: number;
  /** This process's metrics, served at GET /metrics. */
  metrics: Metrics;
  log: Logger;
};

export type RunningPlatform = Platform & { stop(): Promise<void> };

const SWEEP_INTERVAL_MS = 1_000;

export type PlatformParts = {
  store: EventStore;
  bus: JobBus;
  /** This api's own read-model database (see projections/read-model-store.ts). */
  readModels: SqliteDatabase;
};

/** The api side: projections, the durable status recorder and the deadline sweeper. */
export async function startPlatform(
  config: Config & { jwtSecret: string },
  { store, bus, readModels: readModelDatabase }: PlatformParts,
  log: Logger,
  /**
   * `metrics`: the process's one registry, shared with its worker in role `all`; by default a
   * registry of the platform's own.
   */
  overrides: Partial<Pick<Platform, 'clock' | 'newId' | 'metrics'>> = {},
): Promise<RunningPlatform> {
  const readModels = createReadModels(readModelDatabase);
  const runner = await startProjections(store, readModelDatabase, readModels.all);
  log('info', 'projections started', { from: runner.startedFrom });
  void runner.ready.then(() => log('info', 'projections caught up', { position: runner.position, applied: runner.applied }));
  const platform: Platform = {
    config,
    store,
    bus,
    clock: overrides.clock ?? systemClock,
    newId: overrides.newId ?? (() => crypto.randomUUID()),
    passwords: createBcryptHasher(config.bcryptCost),
    loginThrottle: createLoginThrottle(),
    projections: { ...readModels, runner },
    readModelDatabase,
    readYourWritesTimeoutMs: 5_000,
    metrics: overrides.metrics ?? createMetrics(),
    log,
  };
  measurePlatform(platform.metrics, {
    activeExecutions: () => readModels.executions.active().byStatus,
    jobsWaiting: () => bus.pendingJobs(),
    projectionLag: () => runner.lag(),
  });

  const recorder: Consumer = recordStatuses(platform, log);
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepDeadlines(platform)
      .catch((error: unknown) => log('warn', 'deadline sweep failed', describeError(error)))
      .finally(() => {
        sweeping = false;
      });
  }, SWEEP_INTERVAL_MS);

  return {
    ...platform,
    async stop() {
      clearInterval(sweeper);
      await recorder.stop();
      await runner.stop();
    },
  };
}
