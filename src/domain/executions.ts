import {
  type ExecutionMachineEvent,
  type ExecutionOutput,
  type ExecutionSnapshot,
  NO_WORKER_REASON,
  executionMachine,
  statusOf,
} from '../../actors/execution.ts';
import { initialTransition, transition } from 'xstate';
import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';

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

type Output = Partial<ExecutionOutput>;

export type ExecutionEvent =
  | DomainEvent<'ExecutionQueued', ExecutionQueuedData>
  | DomainEvent<'ExecutionStarted', { workerId: string; containerId: string; startedAt: string }>
  | DomainEvent<'ExecutionSucceeded', ExecutionOutput & { finishedAt: string }>
  | DomainEvent<'ExecutionFailed', Output & { reason: string; finishedAt: string }>
  | DomainEvent<'ExecutionTimedOut', Output & { finishedAt: string }>;

export type ExecutionState =
  | { status: 'absent' }
  | { status: 'present'; queued: ExecutionQueuedData; snapshot: ExecutionSnapshot };

/** What a worker or the api's own clock says happened, before the machine judges it. */
export type ExecutionReport = ExecutionMachineEvent;

export type ExecutionCommand =
  | { type: 'QueueExecution'; data: ExecutionQueuedData }
  | { type: 'RecordReport'; report: ExecutionReport }
  /** The deadline passed with no outcome: queued → failed, running → timedOut. */
  | { type: 'ExpireExecution'; now: Date };

const toMachineEvent = (event: ExecutionEvent): ExecutionMachineEvent | null => {
  switch (event.type) {
    case 'ExecutionQueued':
      return null;
    case 'ExecutionStarted':
      return { type: 'STARTED', workerId: event.data.workerId, containerId: event.data.containerId, at: event.data.startedAt };
    case 'ExecutionSucceeded': {
      const { finishedAt, ...output } = event.data;
      return { type: 'SUCCEEDED', at: finishedAt, ...output };
    }
    case 'ExecutionFailed': {
      const { finishedAt, ...rest } = event.data;
      return { type: 'FAILED', at: finishedAt, ...rest };
    }
    case 'ExecutionTimedOut': {
      const { finishedAt, ...output } = event.data;
      return { type: 'TIMED_OUT', at: finishedAt, ...output };
    }
  }
};

const toDomainEvent = (report: ExecutionReport): ExecutionEvent => {
  switch (report.type) {
    case 'STARTED':
      return { type: 'ExecutionStarted', data: { workerId: report.workerId, containerId: report.containerId, startedAt: report.at } };
    case 'SUCCEEDED': {
      const { type: _, at, ...output } = report;
      return { type: 'ExecutionSucceeded', data: { ...output, finishedAt: at } };
    }
    case 'FAILED': {
      const { type: _, at, ...rest } = report;
      return { type: 'ExecutionFailed', data: { ...rest, finishedAt: at } };
    }
    case 'TIMED_OUT': {
      const { type: _, at, ...output } = report;
      return { type: 'ExecutionTimedOut', data: { ...output, finishedAt: at } };
    }
  }
};

/**
 * A report is worth recording when the machine changes because of it: a new state or a late
 * result. A late result of a kind already recorded late is that same fact delivered again (a
 * status redelivered after its recorder failed): its event id is derived from the kind
 * (commands/record-report.ts), so the store would take it as a retry, and the one who decided
 * it would count it again.
 */
const changes = (before: ExecutionSnapshot, report: ExecutionReport) => {
  const [after] = transition(executionMachine, before, report);
  if (after.value !== before.value) return true;
  return after.context.late.length !== before.context.late.length && !before.context.late.some((late) => late.type === report.type);
};

export const executionDecider: Decider<ExecutionCommand, ExecutionEvent, ExecutionState> = {
  initialState: () => ({ status: 'absent' }),

  evolve: (state, event) => {
    if (event.type === 'ExecutionQueued') {
      const [snapshot] = initialTransition(executionMachine, { executionId: event.data.executionId, deadline: event.data.deadline });
      return { status: 'present', queued: event.data, snapshot };
    }
    const machineEvent = toMachineEvent(event);
    if (state.status === 'absent' || machineEvent === null) return state;
    const [snapshot] = transition(executionMachine, state.snapshot, machineEvent);
    return { ...state, snapshot };
  },

  decide: (command, state) => {
    if (command.type === 'QueueExecution') {
      if (state.status !== 'absent') throw new DomainError('ExecutionAlreadyExists', 'the execution already exists');
      return [{ type: 'ExecutionQueued', data: command.data }];
    }
    if (state.status === 'absent') throw new DomainError('ExecutionNotFound', 'no such execution');
    if (command.type === 'RecordReport') {
      return changes(state.snapshot, command.report) ? [toDomainEvent(command.report)] : [];
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
