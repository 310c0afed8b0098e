import { type ExecutionSnapshot, NO_WORKER_REASON, executionMachine, queuedSnapshot, statusOf } from '../../actors/execution.ts';
import { transition } from 'xstate';
import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';
import { type ExecutionReport, type ExecutionReportEvent, eventFromReport, reportFromEvent } from './execution-outcome.ts';

export type ExecutionQueuedData = {
  executionId: string;
  functionId: string;
  ownerId: string;
  image: string;
  timeoutMs: number;
  stdinBytes: number;
  queuedAt: string;
  /** After it, a running execution is timed out and a queued one failed: a restart loses no timeout. */
  deadline: string;
  /** Slot streams holding a lease for this execution, released on every outcome. */
  slotStreams: string[];
};

/** Queued, then each report the machine accepted (their shapes: src/domain/execution-outcome.ts). */
export type ExecutionEvent = DomainEvent<'ExecutionQueued', ExecutionQueuedData> | ExecutionReportEvent;

export type ExecutionState =
  | { status: 'absent' }
  | { status: 'present'; queued: ExecutionQueuedData; snapshot: ExecutionSnapshot };

export type ExecutionCommand =
  | { type: 'QueueExecution'; data: ExecutionQueuedData }
  /** Reports of one status, in order (a start, then the outcome it came with): one append. */
  | { type: 'RecordReports'; reports: readonly ExecutionReport[] }
  /** The deadline passed with no outcome: queued → failed, running → timedOut. */
  | { type: 'ExpireExecution'; now: Date };

/**
 * A report is worth recording when the machine changes because of it: a new state, a start
 * notice its result overtook, or a late result. A late result of a kind already recorded late is that same fact delivered again (a
 * status redelivered after its recorder failed): its event id is derived from the kind
 * (commands/record-report.ts), so the store would take it as a retry, and the one who decided
 * it would count it again.
 */
const changes = (before: ExecutionSnapshot, report: ExecutionReport) => {
  const [after] = transition(executionMachine, before, report);
  if (after.value !== before.value || after.context.startedAt !== before.context.startedAt) return true;
  return after.context.late.length !== before.context.late.length && !before.context.late.some((late) => late.type === report.type);
};

export const executionDecider: Decider<ExecutionCommand, ExecutionEvent, ExecutionState> = {
  initialState: () => ({ status: 'absent' }),

  evolve: (state, event) => {
    if (event.type === 'ExecutionQueued') {
      return { status: 'present', queued: event.data, snapshot: queuedSnapshot({ executionId: event.data.executionId, deadline: event.data.deadline }) };
    }
    if (state.status === 'absent') return state;
    const [snapshot] = transition(executionMachine, state.snapshot, reportFromEvent(event));
    return { ...state, snapshot };
  },

  decide: (command, state) => {
    if (command.type === 'QueueExecution') {
      if (state.status !== 'absent') throw new DomainError('ExecutionAlreadyExists', 'the execution already exists');
      return [{ type: 'ExecutionQueued', data: command.data }];
    }
    if (state.status === 'absent') throw new DomainError('ExecutionNotFound', 'no such execution');
    if (command.type === 'RecordReports') {
      const events: ExecutionReportEvent[] = [];
      let snapshot = state.snapshot;
      for (const report of command.reports) {
        if (!changes(snapshot, report)) continue;
        events.push(eventFromReport(report));
        [snapshot] = transition(executionMachine, snapshot, report);
      }
      return events;
    }
    if (command.now.getTime() < Date.parse(state.queued.deadline)) return [];
    const at = state.queued.deadline;
    switch (statusOf(state.snapshot)) {
      case 'queued':
        return [{ type: 'ExecutionFailed', data: { reason: NO_WORKER_REASON, finishedAt: at } }];
      case 'running':
        return [{ type: 'ExecutionTimedOut', data: { finishedAt: at } }];
      default:
        return [];
    }
  },
};
