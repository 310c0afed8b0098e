import type { Platform } from '../platform.ts';
import type { CommandContext } from './handle-command.ts';

export const commandContext = (platform: Platform, correlationId: string): CommandContext => ({
  correlationId,
  newId: platform.newId,
});

/** Read-your-writes: the answer to a write waits (bounded) until queries show it. */
export async function awaitProjections(platform: Platform, position: number | null): Promise<void> {
  if (position !== null) await platform.projections.runner.waitFor(position, platform.readYourWritesTimeoutMs);
}
