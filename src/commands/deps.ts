import type { ReadModels } from '../../projections/read-models.ts';
import type { ProjectionRunner } from '../../projections/runner.ts';
import type { LoginThrottle } from '../auth/login-throttle.ts';
import type { PasswordHasher } from '../auth/passwords.ts';
import type { Config } from '../config-type.ts';
import { type Logger } from '../ports/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Clock } from '../ports/clock.ts';
import type { EventStore } from '../ports/event-store.ts';
import type { ImageResolver } from '../ports/image-resolver.ts';
import type { JobBus } from '../ports/job-bus.ts';
import type { KeyStore } from '../ports/key-store.ts';

/**
 * Everything a command may use, built once by the api's composition root (src/api.ts). Each
 * command takes only the part it needs (a `Pick` of this), so that its signature says what it
 * touches and a test builds no more than that.
 */
export type CommandDeps = {
  config: Config & { jwtSecret: string };
  store: EventStore;
  bus: JobBus;
  /** Each user's data key, outside the event log: what is theirs and secret is stored encrypted under it. */
  keys: KeyStore;
  /** Tags to digests, asked when a version is made (src/commands/pin-image.ts). */
  images: ImageResolver;
  clock: Clock;
  newId: () => string;
  passwords: PasswordHasher;
  loginThrottle: LoginThrottle;
  /** The read models, and the runner that tells how far they have read (for read-your-writes). */
  projections: ReadModels & { runner: ProjectionRunner };
  /** How long a write waits for the projections to show it before answering anyway. */
  readYourWritesTimeoutMs: number;
  metrics: Metrics;
  log: Logger;
};

/** What a command needs to wait, after a write, until queries show it. */
export type ReadYourWrites = Pick<CommandDeps, 'projections' | 'readYourWritesTimeoutMs'>;
