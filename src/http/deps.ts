import type { CommandDeps } from '../commands/deps.ts';
import type { MetricsHistory } from '../metrics/metrics-history.ts';
import type { SqliteDatabase } from '../ports/sqlite.ts';

/** What the HTTP app's routes use: the commands' dependencies, and the read models' database for operator queries. */
export type AppDeps = CommandDeps & {
  /** Where the read models and their checkpoints live. */
  readModelDatabase: SqliteDatabase;
  /** The last hour of this api's metrics, sampled by processes/metrics-sampler.ts. */
  metricsHistory: MetricsHistory;
};
