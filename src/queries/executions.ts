import { readState } from '../commands/handle-command.ts';
import { DomainError } from '../domain/errors.ts';
import { type ExecutionState, executionDecider } from '../domain/executions.ts';
import { UUID } from '../domain/ids.ts';
import { executionStream } from '../domain/streams.ts';
import type { QueryDeps } from './deps.ts';

export type PresentExecution = Extract<ExecutionState, { status: 'present' }>;

/** The caller's execution, read from its stream: the result is read where it was written. */
export async function ownedExecution(deps: Pick<QueryDeps, 'store'>, executionId: string, ownerId: string): Promise<PresentExecution> {
  if (!UUID.test(executionId)) throw new DomainError('ExecutionNotFound', 'no such execution');
  const { state } = await readState(deps.store, executionDecider, executionStream(executionId.toLowerCase()));
  if (state.status !== 'present') throw new DomainError('ExecutionNotFound', 'no such execution');
  if (state.queued.ownerId !== ownerId) throw new DomainError('NotExecutionOwner', 'the execution belongs to another user');
  return state;
}

/** A function's executions, newest first, as the read model has them. */
export const executionHistory = (deps: Pick<QueryDeps, 'projections'>, functionId: string, limit: number) =>
  deps.projections.executions.listByFunction(functionId, limit);
