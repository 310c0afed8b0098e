import { DomainError } from '../domain/errors.ts';
import { executionDecider } from '../domain/executions.ts';
import { functionDecider } from '../domain/functions.ts';
import { slotLeaseKey } from '../domain/slots.ts';
import { executionStream, functionStream } from '../domain/streams.ts';
import { BusUnavailableError } from '../ports/job-bus.ts';
import { commandContext } from './context.ts';
import { callEnvOf } from './function-env.ts';
import { handleCommand, readState } from './handle-command.ts';
import { oneAtATime } from './one-at-a-time.ts';
import { recordReport } from './record-report.ts';
import { reserveSlots } from './slots.ts';
import { type StartDeps, jobOf } from './start-execution.ts';
import { openStdin } from './stored-stdin.ts';

export type DispatchDeps = Omit<StartDeps, 'projections' | 'readYourWritesTimeoutMs'>;

/**
 * Hands a scheduled attempt to the workers once its time has come: slots of its own (it waits,
 * without one, while its owner or the platform is at the limit), `ExecutionRequeued` at the
 * stream's revision (several apis may try; one appends), then the job. An attempt that can no
 * longer run (too old, its function deleted) ends the execution on the dead-letter list.
 */
export async function dispatchRetry(deps: DispatchDeps, executionId: string, correlationId: string): Promise<'dispatched' | 'waiting' | 'done'> {
  const stream = executionStream(executionId);
  const { state } = await readState(deps.store, executionDecider, stream);
  if (state.status !== 'present' || state.retryAt === null) return 'done';
  const now = deps.clock.now();
  if (Date.parse(state.retryAt) > now.getTime()) return 'waiting';
  const { queued, attempt } = state;
  const context = commandContext(deps, correlationId);

  const abandon = async (reason: string) => {
    const result = await oneAtATime(deps.store, stream, () =>
      handleCommand(deps.store, executionDecider, stream, { type: 'AbandonRetry', reason, now }, context),
    );
    if (result.events.length > 0) {
      // Counted as the recorder counts an ending, once: the append that ends it is this one.
      deps.metrics.executions.inc({ outcome: 'failed' });
      deps.metrics.deadLettered.inc();
      deps.log('warn', 'retry abandoned', { executionId, attempt, reason, correlationId });
    }
    return 'done' as const;
  };
  const maxAgeSeconds = queued.retry?.maxAgeSeconds;
  if (maxAgeSeconds !== undefined && now.getTime() > Date.parse(queued.queuedAt) + maxAgeSeconds * 1000) {
    return abandon(`no attempt ${attempt}: older than its maximum age (${maxAgeSeconds} s)`);
  }
  const fn = await readState(deps.store, functionDecider, functionStream(queued.functionId));
  if (fn.state.status !== 'active') return abandon(`no attempt ${attempt}: its function was deleted`);
  if (queued.stdin === undefined) return abandon(`no attempt ${attempt}: its stdin was not kept`);
  const definition = fn.state.definition;
  let callEnv;
  try {
    callEnv = await callEnvOf(deps, definition);
  } catch (error) {
    // A secret it takes was deleted, or its owner was: no attempt can run as its function says.
    if (error instanceof DomainError && ['SecretMissing', 'SecretsTooLarge', 'UserNotFound'].includes(error.code)) return abandon(`no attempt ${attempt}: ${error.message}`);
    throw error;
  }
  const stdin = await openStdin(deps.keys, { ...queued, stdin: queued.stdin });

  const deadline = new Date(now.getTime() + definition.timeoutMs + deps.config.executions.graceMs);
  const leaseUntil = new Date(deadline.getTime() + deps.config.executions.graceMs);
  let slotStreams: string[];
  try {
    slotStreams = await reserveSlots(deps, queued.ownerId, slotLeaseKey(executionId, attempt), leaseUntil, context);
  } catch (error) {
    if (error instanceof DomainError && error.code === 'LimitReached') return 'waiting';
    throw error;
  }
  const requeued = await oneAtATime(deps.store, stream, () =>
    handleCommand(
      deps.store,
      executionDecider,
      stream,
      { type: 'RequeueExecution', data: { attempt, queuedAt: now.toISOString(), deadline: deadline.toISOString(), slotStreams } },
      context,
    ),
  );
  // Another api handed it out (its lease is the one just reserved again: the same key), or it was abandoned.
  if (requeued.events.length === 0) return 'done';
  try {
    await deps.bus.publishJob(jobOf(definition, callEnv, { executionId, attempt, stdin, deadline, queuedAt: now, correlationId }));
  } catch (error) {
    if (!(error instanceof BusUnavailableError)) throw error;
    // The attempt ends as the platform's failure: the next is scheduled, or it is dead-lettered.
    await recordReport(deps, executionId, { type: 'FAILED', reason: 'the job queue is unavailable', at: deps.clock.now().toISOString(), attempt }, correlationId);
    return 'done';
  }
  deps.log('info', 'execution queued again', { executionId, attempt, correlationId });
  return 'dispatched';
}
