import { type ExecutionSnapshot, NO_WORKER_REASON, executionMachine, queuedSnapshot, statusOf } from '../../actors/execution.ts';
import { transition } from 'xstate';
import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';
import {
  type ExecutionReport,
  type ExecutionReportEvent,
  type ExecutionStatus,
  attemptField,
  attemptOf,
  eventFromReport,
  reportFromEvent,
} from './execution-outcome.ts';
import { type RetryPolicy, afterAttempt, failureOf } from './retries.ts';

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
  /** Nobody waits for it (`wait=false`): it may be retried, and is dead-lettered when it ends without success. Absent: false. */
  async?: boolean;
  /** The function's retry policy when it was queued. */
  retry?: RetryPolicy;
  /** Its stdin, base64, kept for a later attempt or a redrive: asynchronous executions only, up to STORED_STDIN_LIMIT bytes. */
  stdin?: string;
  /** The dead-lettered execution this one runs again (POST /v1/dead-letters/{id}/redrive). */
  redriveOf?: string;
  /** The version of its function it runs (absent from events stored before versions: 1). */
  functionVersion?: number;
  /** The digest that version pinned its image to (absent: a version made before pinning, run by its tag). */
  imageDigest?: string;
  /** Asynchronous only: receives the final record once it ended for good (src/domain/callbacks.ts). */
  callbackUrl?: string;
};

/** An asynchronous execution's stdin is kept in its stream up to this size: more is not retried or redriven. */
export const STORED_STDIN_LIMIT = 1024 * 1024;

/** What a later attempt starts from (its deadline and slots are new; the rest is the execution's). */
export type ExecutionRequeuedData = { attempt: number; queuedAt: string; deadline: string; slotStreams: string[] };

export type ExecutionLifecycleEvent =
  /** An attempt ended without success and another will run, not before `notBefore`. */
  | DomainEvent<'ExecutionRetryScheduled', { attempt: number; notBefore: string; deadline: string; reason: string }>
  /** The attempt was handed to the workers, with slots of its own. */
  | DomainEvent<'ExecutionRequeued', ExecutionRequeuedData>
  /** It ended without success for good: it is on its owner's dead-letter list. */
  | DomainEvent<'ExecutionDeadLettered', { reason: string; at: string; attempts: number }>
  /** Run again as a new execution; it leaves the dead-letter list. */
  | DomainEvent<'ExecutionRedriven', { redriveExecutionId: string; at: string }>
  /** Its owner took it off the dead-letter list without running it again. */
  | DomainEvent<'ExecutionDeadLetterDiscarded', { at: string }>;

/** Queued, then each report the machine accepted (their shapes: src/domain/execution-outcome.ts), and what follows attempts. */
export type ExecutionEvent = DomainEvent<'ExecutionQueued', ExecutionQueuedData> | ExecutionReportEvent | ExecutionLifecycleEvent;

/** An attempt that ended, as the record lists it. */
export type AttemptSummary = {
  attempt: number;
  status: ExecutionStatus;
  reason: string | null;
  exitCode: number | null;
  workerId: string | null;
  startedAt: string | null;
  finishedAt: string | null;
};

export type DeadLetter = { at: string; reason: string; redriveExecutionId: string | null; discardedAt: string | null };

export type ExecutionState =
  | { status: 'absent' }
  | {
      status: 'present';
      queued: ExecutionQueuedData;
      /** The current attempt's lifecycle. */
      snapshot: ExecutionSnapshot;
      attempt: number;
      /** Earlier attempts, oldest first. */
      attempts: AttemptSummary[];
      /**
       * Where the last attempt handed out holds its lease (slotLeaseKey): the current one's, or
       * while the current one waits (retryAt), the one before's.
       */
      slotStreams: string[];
      /** Set while the current attempt waits to be handed to the workers. */
      retryAt: string | null;
      deadLetter: DeadLetter | null;
    };

export type PresentExecutionState = Extract<ExecutionState, { status: 'present' }>;

export type ExecutionCommand =
  | { type: 'QueueExecution'; data: ExecutionQueuedData }
  /** Reports of one status, in order (a start, then the outcome it came with): one append. */
  | { type: 'RecordReports'; reports: readonly ExecutionReport[] }
  /** The deadline passed with no outcome: queued → failed, running → timedOut. */
  | { type: 'ExpireExecution'; now: Date }
  /** Hands a scheduled attempt to the workers (src/commands/dispatch-retry.ts). */
  | { type: 'RequeueExecution'; data: ExecutionRequeuedData }
  /** A scheduled attempt that cannot run (too old, its function gone). */
  | { type: 'AbandonRetry'; reason: string; now: Date }
  | { type: 'RedriveDeadLetter'; redriveExecutionId: string; now: Date }
  | { type: 'DiscardDeadLetter'; now: Date };

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

const summaryOf = (attempt: number, snapshot: ExecutionSnapshot): AttemptSummary => ({
  attempt,
  status: statusOf(snapshot),
  reason: snapshot.context.reason,
  exitCode: snapshot.context.output?.exitCode ?? null,
  workerId: snapshot.context.workerId,
  startedAt: snapshot.context.startedAt,
  finishedAt: snapshot.context.finishedAt,
});

/** Whether the execution is on its owner's dead-letter list now. */
export const isDeadLettered = (state: ExecutionState) =>
  state.status === 'present' && state.deadLetter !== null && state.deadLetter.redriveExecutionId === null && state.deadLetter.discardedAt === null;

const evolve = (state: ExecutionState, event: ExecutionEvent): ExecutionState => {
  if (event.type === 'ExecutionQueued') {
    return {
      status: 'present',
      queued: event.data,
      snapshot: queuedSnapshot({ executionId: event.data.executionId, deadline: event.data.deadline }),
      attempt: 1,
      attempts: [],
      slotStreams: event.data.slotStreams,
      retryAt: null,
      deadLetter: null,
    };
  }
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'ExecutionRetryScheduled':
      return {
        ...state,
        attempts: [...state.attempts, summaryOf(state.attempt, state.snapshot)],
        attempt: event.data.attempt,
        snapshot: queuedSnapshot({ executionId: state.queued.executionId, deadline: event.data.deadline }),
        // Still the ended attempt's, until they are released and the next attempt takes its own.
        retryAt: event.data.notBefore,
      };
    case 'ExecutionRequeued':
      return {
        ...state,
        snapshot: queuedSnapshot({ executionId: state.queued.executionId, deadline: event.data.deadline }),
        slotStreams: event.data.slotStreams,
        retryAt: null,
      };
    case 'ExecutionDeadLettered':
      return { ...state, deadLetter: { at: event.data.at, reason: event.data.reason, redriveExecutionId: null, discardedAt: null } };
    case 'ExecutionRedriven':
      return state.deadLetter ? { ...state, deadLetter: { ...state.deadLetter, redriveExecutionId: event.data.redriveExecutionId } } : state;
    case 'ExecutionDeadLetterDiscarded':
      return state.deadLetter ? { ...state, deadLetter: { ...state.deadLetter, discardedAt: event.data.at } } : state;
    default: {
      // A report of an earlier attempt, stored before its successor was scheduled, is history.
      const report = reportFromEvent(event);
      if (attemptOf(report) !== state.attempt) return state;
      const [snapshot] = transition(executionMachine, state.snapshot, report);
      // Only AbandonRetry ends an attempt still waiting to be handed out.
      return { ...state, snapshot, retryAt: null };
    }
  }
};

/**
 * What follows an attempt that ended now without success: the next attempt, or the dead-letter
 * list. An attempt waiting to be handed out, or ended before, decides nothing again.
 */
function followUp(before: PresentExecutionState, after: PresentExecutionState, ending: ExecutionReport | null): ExecutionLifecycleEvent[] {
  const status = statusOf(after.snapshot);
  if (statusOf(before.snapshot) === status || (status !== 'failed' && status !== 'timedOut')) return [];
  const { context } = after.snapshot;
  const failure = ending ? failureOf(ending) : 'platform';
  if (failure === null) return [];
  const endedAt = new Date(context.finishedAt ?? context.deadline);
  const reason = context.reason ?? (failure === 'platform' ? 'no outcome from its worker before the deadline (worker lost)' : 'timed out');
  const next = afterAttempt({
    async: after.queued.async ?? false,
    policy: after.queued.stdin === undefined ? undefined : after.queued.retry,
    attempt: after.attempt,
    failure,
    reason,
    endedAt,
    firstQueuedAt: new Date(after.queued.queuedAt),
  });
  switch (next.next) {
    case 'none':
      return [];
    case 'deadLetter':
      return [{ type: 'ExecutionDeadLettered', data: { reason: next.reason, at: endedAt.toISOString(), attempts: after.attempt } }];
    case 'retry': {
      // The next attempt may wait in the queue as long as the first could.
      const allowance = Date.parse(after.queued.deadline) - Date.parse(after.queued.queuedAt);
      const deadline = new Date(next.notBefore.getTime() + allowance).toISOString();
      return [{ type: 'ExecutionRetryScheduled', data: { attempt: after.attempt + 1, notBefore: next.notBefore.toISOString(), deadline, reason } }];
    }
  }
}

const present = (state: ExecutionState): PresentExecutionState => {
  if (state.status === 'absent') throw new DomainError('ExecutionNotFound', 'no such execution');
  return state;
};

export const executionDecider: Decider<ExecutionCommand, ExecutionEvent, ExecutionState> = {
  initialState: () => ({ status: 'absent' }),
  evolve,

  decide: (command, state) => {
    if (command.type === 'QueueExecution') {
      if (state.status !== 'absent') throw new DomainError('ExecutionAlreadyExists', 'the execution already exists');
      return [{ type: 'ExecutionQueued', data: command.data }];
    }
    const current = present(state);
    switch (command.type) {
      case 'RecordReports': {
        const events: ExecutionEvent[] = [];
        let after = current;
        for (const report of command.reports) {
          // A report of another attempt (a status delivered again after its successor began) changes nothing now.
          if (attemptOf(report) !== current.attempt || current.retryAt !== null) continue;
          if (!changes(after.snapshot, report)) continue;
          const event = eventFromReport(report);
          events.push(event);
          after = evolve(after, event) as PresentExecutionState;
        }
        const last = command.reports.at(-1);
        return [...events, ...(events.length > 0 && last ? followUp(current, after, last) : [])];
      }
      case 'ExpireExecution': {
        if (current.retryAt !== null || command.now.getTime() < Date.parse(current.snapshot.context.deadline)) return [];
        const at = current.snapshot.context.deadline;
        const ending: ExecutionReportEvent | null = (() => {
          switch (statusOf(current.snapshot)) {
            case 'queued':
              return { type: 'ExecutionFailed', data: { reason: NO_WORKER_REASON, finishedAt: at, ...attemptField(current.attempt) } };
            case 'running':
              return { type: 'ExecutionTimedOut', data: { finishedAt: at, ...attemptField(current.attempt) } };
            default:
              return null;
          }
        })();
        if (!ending) return [];
        const after = evolve(current, ending) as PresentExecutionState;
        return [ending, ...followUp(current, after, reportFromEvent(ending))];
      }
      case 'RequeueExecution':
        if (current.retryAt === null || command.data.attempt !== current.attempt) return [];
        return [{ type: 'ExecutionRequeued', data: command.data }];
      case 'AbandonRetry':
        if (current.retryAt === null) return [];
        return [
          {
            type: 'ExecutionFailed',
            data: { reason: command.reason, finishedAt: command.now.toISOString(), ...attemptField(current.attempt) },
          },
          { type: 'ExecutionDeadLettered', data: { reason: command.reason, at: command.now.toISOString(), attempts: current.attempt - 1 } },
        ];
      case 'RedriveDeadLetter':
        if (current.deadLetter?.redriveExecutionId === command.redriveExecutionId) return [];
        if (!isDeadLettered(current)) throw new DomainError('DeadLetterNotFound', 'the execution is not on the dead-letter list');
        if (current.queued.stdin === undefined) {
          throw new DomainError('DeadLetterNotRedrivable', `its stdin was not kept (more than ${STORED_STDIN_LIMIT} bytes): submit it again`);
        }
        return [{ type: 'ExecutionRedriven', data: { redriveExecutionId: command.redriveExecutionId, at: command.now.toISOString() } }];
      case 'DiscardDeadLetter':
        if (!isDeadLettered(current)) throw new DomainError('DeadLetterNotFound', 'the execution is not on the dead-letter list');
        return [{ type: 'ExecutionDeadLetterDiscarded', data: { at: command.now.toISOString() } }];
    }
  },
};

