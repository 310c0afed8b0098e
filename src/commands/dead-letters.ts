import { DomainError } from '../domain/errors.ts';
import { type ExecutionCommand, type PresentExecutionState, executionDecider } from '../domain/executions.ts';
import { executionStream } from '../domain/streams.ts';
import { decodeJobStdin } from '../ports/job-bus.ts';
import { ownedExecution } from '../queries/executions.ts';
import { ownedFunction } from '../queries/functions.ts';
import type { CommandDeps } from './deps.ts';
import { commandContext } from './context.ts';
import { deterministicEventId } from './deterministic-id.ts';
import { handleCommand } from './handle-command.ts';
import { oneAtATime } from './one-at-a-time.ts';
import { type StartDeps, startExecution } from './start-execution.ts';
import { openStdin } from './stored-stdin.ts';

export type DeadLetterDeps = StartDeps & Pick<CommandDeps, 'projections'>;

/**
 * Runs a dead-lettered execution again as a new one, linked both ways (`redriveOf`, and
 * `ExecutionRedriven` on the old one, which takes it off the list). The new id is derived from
 * the old: two redrives at once start one execution. Refused at the limit (429) with nothing
 * changed: the dead letter stays on the list.
 */
export async function redriveDeadLetter(deps: DeadLetterDeps, executionId: string, ownerId: string, correlationId: string) {
  const state = await ownedExecution(deps, executionId, ownerId);
  const redriveExecutionId = await deterministicEventId(state.queued.executionId, 'redrive');
  const now = deps.clock.now();
  // Decided first on what is read, so a refusal (not on the list, input not kept) starts nothing.
  executionDecider.decide({ type: 'RedriveDeadLetter', redriveExecutionId, now }, state);
  const definition = await ownedFunction(deps, state.queued.functionId, ownerId);
  try {
    const stdin = decodeJobStdin(await openStdin(deps.keys, { ...state.queued, stdin: state.queued.stdin! }));
    await startExecution(deps, definition, stdin, {
      wait: false,
      correlationId,
      executionId: redriveExecutionId,
      redriveOf: state.queued.executionId,
      // Its final record goes where the first one's was to go (the sender checks the host again).
      ...(state.queued.callbackUrl ? { callbackUrl: state.queued.callbackUrl } : {}),
    });
  } catch (error) {
    // Another redrive of it started the same execution a moment ago.
    if (!(error instanceof DomainError && error.code === 'ExecutionAlreadyExists')) throw error;
  }
  await decide(deps, state, { type: 'RedriveDeadLetter', redriveExecutionId, now }, correlationId);
  deps.log('info', 'dead letter redriven', { executionId: state.queued.executionId, redriveExecutionId, correlationId });
  return { executionId: redriveExecutionId, redriveOf: state.queued.executionId };
}

/** Takes a dead letter off its owner's list without running it again; its record stays. */
export async function discardDeadLetter(deps: DeadLetterDeps, executionId: string, ownerId: string, correlationId: string) {
  const state = await ownedExecution(deps, executionId, ownerId);
  await decide(deps, state, { type: 'DiscardDeadLetter', now: deps.clock.now() }, correlationId);
}

export type RedriveAllResult = {
  redriven: { executionId: string; redriveExecutionId: string }[];
  failed: { executionId: string; code: string; detail: string }[];
};

/** Redrives the owner's dead letters, oldest first, one after another, and says what each became. */
export async function redriveAllDeadLetters(deps: DeadLetterDeps, ownerId: string, correlationId: string, limit: number): Promise<RedriveAllResult> {
  const result: RedriveAllResult = { redriven: [], failed: [] };
  const listed = deps.projections.executions.deadLetters(ownerId, limit).reverse();
  for (const { executionId } of listed) {
    try {
      const redriven = await redriveDeadLetter(deps, executionId, ownerId, correlationId);
      result.redriven.push({ executionId, redriveExecutionId: redriven.executionId });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      result.failed.push({ executionId, code: error.code, detail: error.message });
    }
  }
  return result;
}

async function decide(deps: DeadLetterDeps, state: PresentExecutionState, command: ExecutionCommand, correlationId: string) {
  const stream = executionStream(state.queued.executionId);
  await oneAtATime(deps.store, stream, () => handleCommand(deps.store, executionDecider, stream, command, commandContext(deps, correlationId)));
}
