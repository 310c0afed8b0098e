import { functionDecider } from '../domain/functions.ts';
import { functionStream } from '../domain/streams.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';

type Deps = Pick<CommandDeps, 'store' | 'clock' | 'newId'> & ReadYourWrites;

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
  await awaitProjections(deps, result.position);
}
