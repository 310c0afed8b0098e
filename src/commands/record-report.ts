import {
  type ExecutionReport,
  type ExecutionReportEvent,
  attemptOf,
  isTerminal,
  outcomeRecordedBy,
  reportFromEvent,
  reportsFromStatus,
} from '../domain/execution-outcome.ts';
import { type ExecutionCommand, type ExecutionEvent, type ExecutionState, executionDecider } from '../domain/executions.ts';
import { slotLeaseKey } from '../domain/slots.ts';
import { executionStream } from '../domain/streams.ts';
import { statusOf } from '../../actors/execution.ts';
import { observePhases } from '../metrics/metrics.ts';
import type { PhaseDurations, StatusMessage } from '../ports/job-bus.ts';
import type { CommandDeps } from './deps.ts';
import { deterministicEventId, ofAttempt } from './deterministic-id.ts';
import { handleCommand, readState } from './handle-command.ts';
import { oneAtATime } from './one-at-a-time.ts';
import { releaseSlots } from './slots.ts';

/** What recording an execution's report needs: its append, the slots it frees, its metrics and log line. */
export type RecordReportDeps = Pick<CommandDeps, 'store' | 'clock' | 'newId' | 'metrics' | 'log'>;

/** Records a worker's status (with the start a final one may carry), and the phases it gives. */
export const recordStatus = (deps: RecordReportDeps, status: StatusMessage, correlationId: string) =>
  recordReports(deps, status.executionId, reportsFromStatus(status), correlationId, status.phases);

/** Records one report that is not a worker's (the api's own, when the job could not be queued). */
export const recordReport = (deps: RecordReportDeps, executionId: string, report: ExecutionReport, correlationId: string) =>
  recordReports(deps, executionId, [report], correlationId);

/**
 * Records what a worker reported. Any number of processes may record the same report (the
 * recorder, the waiting request, a redelivery): each event's id is derived from the kind of
 * report it records, whatever it was appended with, and the execution machine drops what
 * changes nothing.
 */
async function recordReports(
  deps: RecordReportDeps,
  executionId: string,
  reports: readonly ExecutionReport[],
  correlationId: string,
  phases?: PhaseDurations,
) {
  const kinds: string[] = reports.map(({ type }) => type);
  // An ending that may be followed by a retry or a dead letter: their ids too (a success never is).
  if (reports.at(-1)!.type !== 'SUCCEEDED') kinds.push(...FOLLOW_UPS);
  const idOf = new Map(await Promise.all(kinds.map(async (kind) => [kind, await deterministicEventId(executionId, kind)] as const)));
  const attempt = attemptOf(reports.at(-1)!);
  const ids: EventIds = {
    // The machine records only reports of the command, and what follows their ending: each has its id here.
    of: (event) => ofAttempt(idOf.get(FOLLOW_UPS.includes(event.type) ? event.type : reportFromEvent(event as ExecutionReportEvent).type)!, attempt),
    // The outcome is the last report: its event is what ends the execution.
    ending: ofAttempt(idOf.get(reports.at(-1)!.type)!, attempt),
  };
  return decideExecution(deps, executionId, { type: 'RecordReports', reports }, ids, correlationId, phases);
}

/** The deadline passed without an outcome: queued → failed, running → timedOut. */
export async function expireExecution(deps: RecordReportDeps, executionId: string, now: Date, correlationId: string) {
  // The ids depend on the attempt that expires: read it first (the sweeper's read model may lag).
  const { state } = await readState(deps.store, executionDecider, executionStream(executionId));
  const attempt = state.status === 'present' ? state.attempt : 1;
  const [id, ...followUps] = await Promise.all(['deadline', ...FOLLOW_UPS].map((kind) => deterministicEventId(executionId, kind)));
  const ids: EventIds = {
    of: (event) => ofAttempt(FOLLOW_UPS.includes(event.type) ? followUps[FOLLOW_UPS.indexOf(event.type)]! : id!, attempt),
    ending: ofAttempt(id!, attempt),
  };
  return decideExecution(deps, executionId, { type: 'ExpireExecution', now }, ids, correlationId);
}

/** What an attempt's ending may bring in the same append (src/domain/executions.ts followUp). */
const FOLLOW_UPS: readonly string[] = ['ExecutionRetryScheduled', 'ExecutionDeadLettered'];

/** Ids derived from what is recorded, so the same fact recorded twice gets the same event id. */
type EventIds = { of: (event: ExecutionEvent) => string; ending: string };

async function decideExecution(
  deps: RecordReportDeps,
  executionId: string,
  command: ExecutionCommand,
  ids: EventIds,
  correlationId: string,
  phases?: PhaseDurations,
): Promise<ExecutionState> {
  const stream = executionStream(executionId);
  const cause = { correlationId, causationId: ids.ending };
  // The slots are released with the ending's append, in the same commit: one fsync fewer before
  // the answer. An ending decided is an ending even if its append meets a conflict: whatever
  // was written first ended the execution too, or the decision taken again ends it.
  const releases: Promise<void>[] = [];
  const releaseAlongside = (state: ExecutionState) => {
    const release = releaseWhenFinished(deps, executionId, state, cause);
    release.catch(() => {}); // awaited below, or superseded by a retry's
    releases.push(release);
  };
  const result = await oneAtATime(deps.store, stream, () =>
    handleCommand(
      deps.store,
      executionDecider,
      stream,
      command,
      // Only reports are decided here: never a second ExecutionQueued.
      { correlationId, newId: (event) => ids.of(event as ExecutionEvent) },
      { alongside: releaseAlongside },
    ),
  );
  // Counted once appended, whether the release then succeeds or not (a redelivery appends nothing).
  observeAppended(deps, executionId, result.events, result.state, correlationId, phases);
  // Nothing appended here (another recorded the ending): its release may not have run yet.
  await (result.events.length > 0 ? releases.at(-1) : releaseWhenFinished(deps, executionId, result.state, cause));
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
  for (const event of appended) {
    if (event.type === 'ExecutionRetryScheduled') deps.metrics.retriesScheduled.inc();
    if (event.type === 'ExecutionDeadLettered') deps.metrics.deadLettered.inc();
  }
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

/**
 * The slots go once an attempt ended, whether the execution did or another attempt is scheduled
 * (it takes slots of its own when handed out); each release names the event that ended it as its
 * cause.
 */
async function releaseWhenFinished(
  deps: RecordReportDeps,
  executionId: string,
  state: ExecutionState,
  cause: { correlationId: string; causationId: string },
) {
  if (state.status !== 'present') return;
  const ended = state.retryAt !== null ? state.attempt - 1 : isTerminal(statusOf(state.snapshot)) ? state.attempt : null;
  if (ended === null) return;
  await releaseSlots(deps, state.slotStreams, slotLeaseKey(executionId, ended), { ...cause, newId: deps.newId });
}
