import type { CommandContext } from './handle-command.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';

export const commandContext = (deps: Pick<CommandDeps, 'newId'>, correlationId: string): CommandContext => ({
  correlationId,
  newId: deps.newId,
});

/** Read-your-writes: the answer to a write waits (bounded) until queries show it. */
export async function awaitProjections(deps: ReadYourWrites, position: number | null): Promise<void> {
  if (position !== null) await deps.projections.runner.waitFor(position, deps.readYourWritesTimeoutMs);
}
