import { type ExecutionReport, isTerminal, outcomeRecordedBy, reportFromStatus } from '../domain/execution-outcome.ts';
import { type ExecutionCommand, type ExecutionEvent, type ExecutionState, executionDecider } from '../domain/executions.ts';
import { executionStream } from '../domain/streams.ts';
import { statusOf } from '../../actors/execution.ts';
import { observePhases } from '../metrics/metrics.ts';
import type { PhaseDurations, StatusMessage } from '../ports/job-bus.ts';
import type { CommandDeps } from './deps.ts';
import { deterministicEventId } from './deterministic-id.ts';
import { handleCommand } from './handle-command.ts';
import { oneAtATime } from './one-at-a-time.ts';
import { releaseSlots } from './slots.ts';

/** What recording an execution's report needs: its append, the slots it frees, its metrics and log line. */
export type RecordReportDeps = Pick<CommandDeps, 'store' | 'clock' | 'newId' | 'metrics' | 'log'>;

/** Records a worker's status, and the phase durations a final one carries. */
export const recordStatus = (deps: RecordReportDeps, status: StatusMessage, correlationId: string) =>
  recordReport(deps, status.executionId, reportFromStatus(status), correlationId, status.phases);

/**
 * Records what a worker reported. Any number of processes may record the same report (the
 * recorder, the waiting request, a redelivery): the event id is derived from the report, and
 * the execution machine drops what changes nothing.
 */
export const recordReport = (
  deps: RecordReportDeps,
  executionId: string,
  report: ExecutionReport,
  correlationId: string,
  phases?: PhaseDurations,
) => decideExecution(deps, executionId, { type: 'RecordReport', report }, report.type, correlationId, phases);

/** The deadline passed without an outcome: queued → failed, running → timedOut. */
export const expireExecution = (deps: RecordReportDeps, executionId: string, now: Date, correlationId: string) =>
  decideExecution(deps, executionId, { type: 'ExpireExecution', now }, 'deadline', correlationId);

/** `fact` names what is recorded, so the same fact recorded twice gets the same event id. */
async function decideExecution(
  deps: RecordReportDeps,
  executionId: string,
  command: ExecutionCommand,
  fact: string,
  correlationId: string,
  phases?: PhaseDurations,
): Promise<ExecutionState> {
  const id = await deterministicEventId(executionId, fact);
  const stream = executionStream(executionId);
  const result = await oneAtATime(deps.store, stream, () => handleCommand(deps.store, executionDecider, stream, command, { correlationId, newId: () => id }));
  observeAppended(deps, executionId, result.events, result.state, correlationId, phases);
  await releaseWhenFinished(deps, executionId, result.state, { correlationId, causationId: id });
  return result.state;
}

/**
 * Metrics and the log line of an ending, from the events this call appended: a retry, or a
 * second process recording the same report, appends nothing and counts nothing.
 */
function observeAppended(
  deps: RecordReportDeps,
  executionId: string,
  appended: readonly ExecutionEvent[],
  state: ExecutionState,
  correlationId: string,
  phases: PhaseDurations | undefined,
) {
  const finals = appended.flatMap((event) => outcomeRecordedBy(event) ?? []);
  if (finals.length === 0 || state.status !== 'present') return;
  // The machine takes a late result only once timed out, and never a second TIMED_OUT: an
  // appended result that is not the state it ends in is late, not the outcome.
  const outcome = statusOf(state.snapshot);
  if (isTerminal(outcome) && finals.includes(outcome)) {
    deps.metrics.executions.inc({ outcome });
    deps.log('info', 'execution ended', { executionId, outcome, correlationId });
  }
  // A late result's phases are real work done by a worker: they count too, once.
  if (phases) observePhases(deps.metrics.executionPhaseSeconds, phases);
}

/** The slots go once the execution ended; each release names the event that ended it as its cause. */
async function releaseWhenFinished(
  deps: RecordReportDeps,
  executionId: string,
  state: ExecutionState,
  cause: { correlationId: string; causationId: string },
) {
  if (state.status !== 'present' || !isTerminal(statusOf(state.snapshot))) return;
  await releaseSlots(deps, state.queued.slotStreams, executionId, { ...cause, newId: deps.newId });
}
