import type { CommandDeps } from '../commands/deps.ts';

/**
 * What a query reads: the read models (eventually consistent, fast) and the store (a stream,
 * where an answer must reflect the last write).
 */
export type QueryDeps = Pick<CommandDeps, 'store' | 'projections'>;
