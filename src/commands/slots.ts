import { DomainError } from '../domain/errors.ts';
import { slotDecider } from '../domain/slots.ts';
import { GLOBAL_SLOTS_STREAM, userSlotsStream } from '../domain/streams.ts';
import type { CommandDeps } from './deps.ts';
import { type CommandContext, handleCommand } from './handle-command.ts';
import { oneAtATime } from './one-at-a-time.ts';

export type SlotDeps = Pick<CommandDeps, 'store' | 'clock' | 'config'>;

/**
 * Takes the caller's slot, then the global one when a global cap is set; if the second is
 * refused the first is given back. Each is an append at the revision read, so two requests
 * at once can never both take the last slot.
 */
export async function reserveSlots(
  deps: SlotDeps,
  ownerId: string,
  executionId: string,
  leaseUntil: Date,
  context: CommandContext,
): Promise<string[]> {
  const { maxActivePerUser, maxActive } = deps.config.executions;
  const wanted: [string, number][] = [[userSlotsStream(ownerId), maxActivePerUser]];
  if (maxActive !== null) wanted.push([GLOBAL_SLOTS_STREAM, maxActive]);

  const held: string[] = [];
  try {
    for (const [stream, limit] of wanted) {
      await oneAtATime(deps.store, stream, () =>
        handleCommand(
          deps.store,
          slotDecider,
          stream,
          { type: 'ReserveSlot', executionId, leaseUntil, limit, now: deps.clock.now() },
          context,
          { stateInLastEvent: true },
        ),
      );
      held.push(stream);
    }
  } catch (error) {
    await releaseSlots(deps, held, executionId, context);
    if (error instanceof DomainError && error.code === 'LimitReached' && held.length > 0) {
      throw new DomainError('LimitReached', 'the platform is running as many executions as it allows', 1);
    }
    throw error;
  }
  return held;
}

/** Idempotent: releasing a slot that is free (released, or its lease expired) writes nothing. */
export async function releaseSlots(deps: Pick<CommandDeps, 'store' | 'clock'>, streams: readonly string[], executionId: string, context: CommandContext) {
  for (const stream of streams) {
    await oneAtATime(deps.store, stream, () =>
      handleCommand(deps.store, slotDecider, stream, { type: 'ReleaseSlot', executionId, now: deps.clock.now() }, context, { stateInLastEvent: true }),
    );
  }
}
