import { type FunctionDefinition, type FunctionSpec, functionDecider } from '../domain/functions.ts';
import { functionStream } from '../domain/streams.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';

type Deps = Pick<CommandDeps, 'store' | 'clock' | 'newId'> & ReadYourWrites;

export async function createFunction(
  deps: Deps,
  ownerId: string,
  spec: FunctionSpec,
  correlationId: string,
): Promise<FunctionDefinition> {
  const functionId = deps.newId();
  const result = await handleCommand(
    deps.store,
    functionDecider,
    functionStream(functionId),
    { type: 'CreateFunction', functionId, ownerId, spec, now: deps.clock.now() },
    commandContext(deps, correlationId),
  );
  await awaitProjections(deps, result.position);
  if (result.state.status !== 'active') throw new Error('function creation recorded nothing');
  return result.state.definition;
}
