import { readState } from '../commands/handle-command.ts';
import { DomainError } from '../domain/errors.ts';
import { type FunctionDefinition, functionDecider } from '../domain/functions.ts';
import { UUID } from '../domain/ids.ts';
import { functionStream } from '../domain/streams.ts';
import type { QueryDeps } from './deps.ts';

/**
 * The caller's function, or the error its absence or ownership calls for. The projection
 * answers first; the stream decides when it has not seen the function yet (another api
 * instance created it a moment ago).
 */
export async function ownedFunction(deps: QueryDeps, functionId: string, ownerId: string): Promise<FunctionDefinition> {
  // An id that is no UUID cannot name a function; it is not worth a 400.
  if (!UUID.test(functionId)) throw new DomainError('FunctionNotFound', 'no such function');
  const id = functionId.toLowerCase();
  let definition = deps.projections.functions.get(id);
  if (definition === undefined) {
    const { state } = await readState(deps.store, functionDecider, functionStream(id));
    if (state.status === 'active') definition = state.definition;
  }
  if (definition === undefined) throw new DomainError('FunctionNotFound', 'no such function');
  if (definition.ownerId !== ownerId) throw new DomainError('NotFunctionOwner', 'the function belongs to another user');
  return definition;
}

/** Every version of the caller's function, oldest first (the current last), read from its stream. */
export async function functionVersions(deps: Pick<QueryDeps, 'store'>, functionId: string, ownerId: string): Promise<FunctionDefinition[]> {
  if (!UUID.test(functionId)) throw new DomainError('FunctionNotFound', 'no such function');
  const { state } = await readState(deps.store, functionDecider, functionStream(functionId.toLowerCase()));
  if (state.status !== 'active') throw new DomainError('FunctionNotFound', 'no such function');
  if (state.definition.ownerId !== ownerId) throw new DomainError('NotFunctionOwner', 'the function belongs to another user');
  return state.versions;
}

/** The owner's functions, as the read model has them. */
export const functionsOf = (deps: Pick<QueryDeps, 'projections'>, ownerId: string): FunctionDefinition[] =>
  deps.projections.functions.listByOwner(ownerId);
