import { type CallbackEvent, type CallbackPolicy, callbackDecider } from '../domain/callbacks.ts';
import { callbackStream } from '../domain/streams.ts';
import type { CommandDeps } from './deps.ts';
import { commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';

export type CallbackCommandDeps = Pick<CommandDeps, 'store' | 'clock' | 'newId'>;

const correlationOf = (executionId: string) => `callback-${executionId}`;

/**
 * Claims the next attempt of an execution's callback when one is due, at the revision read: of
 * several apis that find it due, one gets it. Answers the attempt's number and time, or null
 * when there is nothing to send now (delivered, abandoned, not yet due, or another's in flight),
 * and what the claim recorded instead: an attempt whose sender was lost, past its lease, is
 * recorded as failed first.
 */
export async function claimCallbackAttempt(
  deps: CallbackCommandDeps,
  executionId: string,
  policy: CallbackPolicy,
): Promise<{ claimed: { attempt: number; at: Date } | null; recorded: CallbackEvent[] }> {
  const result = await handleCommand(
    deps.store,
    callbackDecider,
    callbackStream(executionId),
    { type: 'StartAttempt', now: deps.clock.now(), policy },
    commandContext(deps, correlationOf(executionId)),
  );
  const started = result.events.find((event): event is Extract<CallbackEvent, { type: 'CallbackAttemptStarted' }> => event.type === 'CallbackAttemptStarted');
  return { claimed: started ? { attempt: started.data.attempt, at: new Date(started.data.at) } : null, recorded: result.events };
}

/** The receiver's answer to a claimed attempt (or why there was none): delivered, or the next attempt's time, or the end. */
export async function recordCallbackAttempt(
  deps: CallbackCommandDeps,
  executionId: string,
  result: { attempt: number; status: number | null; error: string | null },
  policy: CallbackPolicy,
): Promise<CallbackEvent[]> {
  const recorded = await handleCommand(
    deps.store,
    callbackDecider,
    callbackStream(executionId),
    { type: 'RecordAttempt', ...result, now: deps.clock.now(), policy },
    commandContext(deps, correlationOf(executionId)),
  );
  return recorded.events;
}

/** No more attempts, for `reason` (its URL is no longer allowed, its owner deleted); true when this call ended it. */
export async function abandonCallback(deps: CallbackCommandDeps, executionId: string, reason: string): Promise<boolean> {
  const result = await handleCommand(
    deps.store,
    callbackDecider,
    callbackStream(executionId),
    { type: 'AbandonCallback', now: deps.clock.now(), reason },
    commandContext(deps, correlationOf(executionId)),
  );
  return result.events.length > 0;
}
