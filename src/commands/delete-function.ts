import { functionDecider } from '../domain/functions.ts';
import { functionStream } from '../domain/streams.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';

type Deps = Pick<CommandDeps, 'store' | 'bus' | 'clock' | 'newId'> & ReadYourWrites;

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
  // Workers drop its pre-started containers now; one that misses this drops them when idle.
  await deps.bus.announceFunctionDeleted(functionId);
  await awaitProjections(deps, result.position);
}
