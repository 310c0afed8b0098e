import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';

/**
 * A read model fed from the global log into tables of the read-model database. `apply` must be
 * deterministic (no clock, no randomness): a rebuild from position zero equals the live model.
 */
export interface Projection {
  readonly name: string;
  /**
   * Bump it whenever the tables or what `apply` writes change: a stored model of another version
   * is emptied and rebuilt at start.
   */
  readonly version: number;
  /** Streams whose events this read model needs. */
  readonly streamPrefixes: readonly string[];
  /** The tables it owns, emptied by a rebuild and hashed by the digest. */
  readonly tables: readonly string[];
  apply(event: RecordedEvent): void;
}

/** Builds a projection on an open read-model database: creates its tables, prepares its statements. */
export type ProjectionFactory<P extends Projection> = (db: SqliteDatabase) => P;
