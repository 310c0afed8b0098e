import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import type { EventStore } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';
import { readCheckpoint } from './read-model-store.ts';

export type ProjectionStatus = {
  /** Global position of the newest event in the store. */
  head: number;
  projections: { name: string; version: number; checkpoint: number; lag: number }[];
};

/** Past this many events behind, the lag is reported as this: counting further costs more than it tells. */
export const LAG_COUNT_LIMIT = 10_000;

/**
 * Where each read model stands. The lag is counted in events, not positions: an EventStoreDB
 * position is a byte offset in its log.
 */
export async function projectionStatus(
  store: EventStore,
  db: SqliteDatabase,
  projections: readonly Projection[],
): Promise<ProjectionStatus> {
  const [newest] = await store.readAll({ maxCount: 1, direction: 'backwards' });
  const head = newest?.position ?? 0;
  const lagAfter = new Map<number, number>();
  const status: ProjectionStatus = { head, projections: [] };
  for (const projection of projections) {
    const checkpoint = readCheckpoint(db, projection.name);
    const position = checkpoint?.version === projection.version ? checkpoint.position : 0;
    if (!lagAfter.has(position)) {
      const behind = position >= head ? [] : await store.readAll({ after: position, maxCount: LAG_COUNT_LIMIT });
      lagAfter.set(position, behind.length);
    }
    status.projections.push({ name: projection.name, version: projection.version, checkpoint: position, lag: lagAfter.get(position)! });
  }
  return status;
}
