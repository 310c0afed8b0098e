import { type FunctionState, functionDecider, warmTargetOf } from '../domain/functions.ts';
import { describeError } from '../ports/logger.ts';
import { functionStream } from '../domain/streams.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';

type Deps = Pick<CommandDeps, 'store' | 'bus' | 'clock' | 'newId' | 'log'> & ReadYourWrites;

/** Throws FunctionNotFound (unknown or already deleted) or NotFunctionOwner. */
export async function deleteFunction(
  deps: Deps,
  requesterId: string,
  functionId: string,
  correlationId: string,
): Promise<void> {
  const result = await handleCommand(
    deps.store,
    functionDecider,
    functionStream(functionId),
    { type: 'DeleteFunction', requesterId, now: deps.clock.now() },
    commandContext(deps, correlationId),
  );
  await retireFunction(deps, result.state, correlationId);
  await awaitProjections(deps, result.position);
}

/**
 * After a deletion: workers drop its pre-started containers now (one that misses the
 * announcement drops them when idle), and its warm target goes (one the bus could not remove
 * now is removed by the api's periodic sync, processes/warm-target-sync.ts).
 */
export async function retireFunction(deps: Pick<CommandDeps, 'bus' | 'log'>, state: FunctionState, correlationId: string): Promise<void> {
  if (state.status !== 'deleted') return;
  const { functionId } = state.definition;
  await deps.bus.announceFunctionRetired(functionId);
  if (!warmTargetOf(state.definition)) return;
  await deps.bus.setWarmTarget(functionId, null).catch((error: unknown) =>
    deps.log('warn', 'warm target not removed yet', { functionId, correlationId, ...describeError(error) }),
  );
}
