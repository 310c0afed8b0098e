import { statusOf } from '../../actors/execution.ts';
import { DomainError } from '../domain/errors.ts';
import { isTerminal } from '../domain/execution-outcome.ts';
import { type ExecutionState, executionDecider } from '../domain/executions.ts';
import type { FunctionDefinition } from '../domain/functions.ts';
import { idempotencyKeyDecider } from '../domain/idempotency-keys.ts';
import { executionStream, idempotencyKeyStream } from '../domain/streams.ts';
import { toHex } from '../lib/hex.ts';
import { BusUnavailableError } from '../ports/job-bus.ts';
import { commandContext } from './context.ts';
import { handleCommand, readState } from './handle-command.ts';
import { oneAtATime } from './one-at-a-time.ts';
import { releaseSlots } from './slots.ts';
import { type StartDeps, startExecution, watchOutcome } from './start-execution.ts';

export type Submission = {
  executionId: string;
  /** Present when the caller waits, or replays a key: settles with the execution's state to answer with. */
  outcome?: Promise<ExecutionState>;
  /** The answer is an execution an earlier request with the same Idempotency-Key started. */
  replayed: boolean;
};

type SubmitOptions = { wait: boolean; correlationId: string; idempotencyKey?: string; callbackUrl?: string };

/**
 * A request to run a function. With an Idempotency-Key, the first request of the key (per user,
 * for a day) claims it for a new execution and starts that; any other, a client's retry in this
 * api process or another, answers with the same execution, as it is now or, waiting, as it ends,
 * and never starts a second one. The same key for another function, body or callback is refused (422).
 */
export async function submitExecution(deps: StartDeps, definition: FunctionDefinition, stdin: Uint8Array, options: SubmitOptions): Promise<Submission> {
  const { idempotencyKey, ...start } = options;
  if (idempotencyKey === undefined) return { ...(await startExecution(deps, definition, stdin, start)), replayed: false };
  const claim = await claimKey(deps, definition, stdin, idempotencyKey, start.correlationId, start.callbackUrl);
  const { executionId } = claim;
  // The request that claimed the key queues its execution. So does a repeat that finds it not
  // queued: the first was refused (at the limit), its process died, or it is queuing it now.
  // Of two, the execution's stream lets one; the other answers with it.
  if (claim.fresh || (await readState(deps.store, executionDecider, executionStream(executionId))).state.status === 'absent') {
    try {
      return { ...(await startExecution(deps, definition, stdin, { ...start, executionId })), replayed: false };
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'ExecutionAlreadyExists')) throw error;
      return replay(deps, executionId, start, { tookSlot: true });
    }
  }
  return replay(deps, executionId, start, { tookSlot: false });
}

async function claimKey(deps: StartDeps, definition: FunctionDefinition, stdin: Uint8Array, key: string, correlationId: string, callbackUrl: string | undefined) {
  const stream = await idempotencyKeyStream(definition.ownerId, key);
  const claim = { executionId: deps.newId(), functionId: definition.functionId, requestDigest: await requestDigest(definition.functionId, stdin, callbackUrl) };
  const result = await oneAtATime(deps.store, stream, () =>
    handleCommand(
      deps.store,
      idempotencyKeyDecider,
      stream,
      { type: 'ClaimIdempotencyKey', claim, now: deps.clock.now() },
      commandContext(deps, correlationId),
      { stateInLastEvent: true },
    ),
  );
  return { executionId: result.state.claim!.executionId, fresh: result.events.length > 0 };
}

/**
 * The function, the callback and the body, so that a key reused for another request is told
 * apart. Without a callback it is what it was before callbacks existed (keys claimed then still
 * match); with one, a \u0001 after the function id keeps the two forms apart.
 */
async function requestDigest(functionId: string, stdin: Uint8Array, callbackUrl: string | undefined): Promise<string> {
  const id = new TextEncoder().encode(callbackUrl === undefined ? `${functionId}\u0000` : `${functionId}\u0001${callbackUrl}\u0000`);
  const bytes = new Uint8Array(id.byteLength + stdin.byteLength);
  bytes.set(id);
  bytes.set(stdin, id.byteLength);
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/** The execution another request with the key started, as it is now or, waiting, as it ends. */
async function replay(deps: StartDeps, executionId: string, options: Omit<SubmitOptions, 'idempotencyKey'>, { tookSlot }: { tookSlot: boolean }): Promise<Submission> {
  const { state } = await readState(deps.store, executionDecider, executionStream(executionId));
  if (state.status !== 'present') throw new Error(`execution ${executionId} has no stream`);
  const ended = isTerminal(statusOf(state.snapshot));
  // A slot this request took for the execution's id while the other queued it is that
  // execution's own lease, unless the execution had already ended and given its slot back: then
  // it is one nobody would release, and goes now (releasing is idempotent).
  if (tookSlot && ended) await releaseSlots(deps, state.queued.slotStreams, executionId, commandContext(deps, options.correlationId));
  if (!options.wait || ended) return { executionId, outcome: Promise.resolve(state), replayed: true };
  return { executionId, outcome: outcomeOfStarted(deps, executionId, new Date(state.queued.deadline), options.correlationId), replayed: true };
}

/** How often a replay waiting for an execution another request started reads its stream. */
const REPLAY_READ_MS = 100;

/**
 * The outcome of an execution another request started. The watch hears a status published after
 * it opened; one published just before is recorded by the others, and read back from the stream.
 * A bus that cannot open the watch leaves the stream alone: the recorder or, at the deadline, the
 * sweeper ends the execution there.
 */
async function outcomeOfStarted(deps: StartDeps, executionId: string, deadline: Date, correlationId: string): Promise<ExecutionState> {
  const waiter = await watchOutcome(deps, executionId, deadline, correlationId).catch((error: unknown) => {
    if (error instanceof BusUnavailableError) return null;
    throw error;
  });
  // Never stopped, it returns only with the outcome.
  if (waiter === null) return (await recordedOutcome(deps, executionId, () => false))!;
  let done = false;
  try {
    return await Promise.race([waiter.outcome, recordedOutcome(deps, executionId, () => done).then((state) => state ?? waiter.outcome)]);
  } finally {
    done = true;
    await waiter.close();
  }
}

/** The execution's stream, read until it holds an outcome; null once `stop` says so first. */
async function recordedOutcome(deps: StartDeps, executionId: string, stop: () => boolean): Promise<ExecutionState | null> {
  while (!stop()) {
    const { state } = await readState(deps.store, executionDecider, executionStream(executionId));
    if (state.status === 'present' && isTerminal(statusOf(state.snapshot))) return state;
    await new Promise((resolve) => setTimeout(resolve, REPLAY_READ_MS));
  }
  return null;
}
