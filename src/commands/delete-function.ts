import { functionDecider } from '../domain/functions.ts';
import { functionStream } from '../domain/streams.ts';
import type { Platform } from '../platform.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';

/** Throws FunctionNotFound (unknown or already deleted) or NotFunctionOwner. */
export async function deleteFunction(
  platform: Platform,
  requesterId: string,
  functionId: string,
  correlationId: string,
): Promise<void> {
  const result = await handleCommand(
    platform.store,
    functionDecider,
    functionStream(functionId),
    { type: 'DeleteFunction', requesterId, now: platform.clock.now() },
    commandContext(platform, correlationId),
  );
  await awaitProjections(platform, result.position);
}
