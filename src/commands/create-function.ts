import { type FunctionDefinition, type FunctionSpec, functionDecider } from '../domain/functions.ts';
import { functionStream } from '../domain/streams.ts';
import type { Platform } from '../platform.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';

export async function createFunction(
  platform: Platform,
  ownerId: string,
  spec: FunctionSpec,
  correlationId: string,
): Promise<FunctionDefinition> {
  const functionId = platform.newId();
  const result = await handleCommand(
    platform.store,
    functionDecider,
    functionStream(functionId),
    { type: 'CreateFunction', functionId, ownerId, spec, now: platform.clock.now() },
    commandContext(platform, correlationId),
  );
  await awaitProjections(platform, result.position);
  if (result.state.status !== 'active') throw new Error('function creation recorded nothing');
  return result.state.definition;
}
