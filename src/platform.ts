import type { Config } from './config.ts';
import type { PasswordHasher } from './auth/passwords.ts';
import type { LoginThrottle } from './auth/login-throttle.ts';
import type { Clock } from './ports/clock.ts';
import type { EventStore } from './ports/event-store.ts';
import type { Consumer, JobBus } from './ports/job-bus.ts';
import type { ProjectionRunner } from '../projections/runner.ts';
import type { UsersProjection } from '../projections/users.ts';
import type { FunctionsProjection } from '../projections/functions.ts';
import type { ExecutionsProjection } from '../projections/executions.ts';
import { createUsersProjection } from '../projections/users.ts';
import { createFunctionsProjection } from '../projections/functions.ts';
import { createExecutionsProjection } from '../projections/executions.ts';
import { startProjections } from '../projections/runner.ts';
import { createBcryptHasher } from './auth/passwords.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { systemClock } from './ports/clock.ts';
import { recordStatuses } from './commands/record-statuses.ts';
import { sweepDeadlines } from './commands/sweep-deadlines.ts';
import type { Logger } from './log.ts';
import { describeError } from './log.ts';

/** Everything a command or a route needs, built once at start and passed down. */
export type Platform = {
  config: Config & { jwtSecret: string };
  store: EventStore;
  bus: JobBus;
  clock: Clock;
  newId: () => string;
  passwords: PasswordHasher;
  loginThrottle: LoginThrottle;
  projections: {
    runner: ProjectionRunner;
    users: UsersProjection;
    functions: FunctionsProjection;
    executions: ExecutionsProjection;
  };
  /** How long a write waits for the projections to show it before answering anyway. */
  readYourWritesTimeoutMs: number;
};

export type RunningPlatform = Platform & { stop(): Promise<void> };

const SWEEP_INTERVAL_MS = 1_000;

/** The api side: projections, the durable status recorder and the deadline sweeper. */
export async function startPlatform(
  config: Config & { jwtSecret: string },
  store: EventStore,
  bus: JobBus,
  log: Logger,
  overrides: Partial<Pick<Platform, 'clock' | 'newId'>> = {},
): Promise<RunningPlatform> {
  const users = createUsersProjection();
  const functions = createFunctionsProjection();
  const executions = createExecutionsProjection();
  const runner = await startProjections(store, [users, functions, executions]);
  const platform: Platform = {
    config,
    store,
    bus,
    clock: overrides.clock ?? systemClock,
    newId: overrides.newId ?? (() => crypto.randomUUID()),
    passwords: createBcryptHasher(config.bcryptCost),
    loginThrottle: createLoginThrottle(),
    projections: { runner, users, functions, executions },
    readYourWritesTimeoutMs: 5_000,
  };

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
