import { assign, setup, transition, type SnapshotFrom } from 'xstate';
import { type ExecutionOutput, type ExecutionReport, type ExecutionStatus, type StartKind, outputOf } from '../src/domain/execution-outcome.ts';

/**
 * The single definition of what may happen to an execution:
 *   queued → running → succeeded | failed | timedOut, and queued → failed when no worker takes it.
 * Its events are the reports of src/domain/execution-outcome.ts. Folded over stored events with
 * the pure `transition` (see foldExecution), and run as a live actor by a waiting request, whose
 * `after` turns a missing answer into timedOut or failed.
 */

export type LateResult = { type: Extract<ExecutionReport['type'], 'SUCCEEDED' | 'FAILED'>; at: string };

export type ExecutionContext = {
  executionId: string;
  /** ISO time after which a running execution counts as timed out, a queued one as failed. */
  deadline: string;
  workerId: string | null;
  containerId: string | null;
  /** Whether its container was pre-started; null before the start, or when the worker did not say. */
  start: StartKind | null;
  startedAt: string | null;
  finishedAt: string | null;
  reason: string | null;
  output: ExecutionOutput | null;
  /** Results that arrived after the execution had timed out: kept, never an outcome. */
  late: LateResult[];
};

export type ExecutionInput = { executionId: string; deadline: string };

const initialContext = (input: ExecutionInput): ExecutionContext => ({
  executionId: input.executionId,
  deadline: input.deadline,
  workerId: null,
  containerId: null,
  start: null,
  startedAt: null,
  finishedAt: null,
  reason: null,
  output: null,
  late: [],
});

export const NO_WORKER_REASON = 'no worker took the execution before its deadline';

export const executionMachine = setup({
  types: {
    context: {} as ExecutionContext,
    events: {} as ExecutionReport,
    input: {} as ExecutionInput,
  },
  guards: {
    startNotRecorded: ({ context }) => context.startedAt === null,
  },
  delays: {
    // Only the live actor waits; folding stored events never runs a timer.
    untilDeadline: ({ context }) => Math.max(0, Date.parse(context.deadline) - Date.now()),
  },
  actions: {
    recordStart: assign(({ event }) =>
      event.type === 'STARTED' ? { workerId: event.workerId, containerId: event.containerId, start: event.start, startedAt: event.at } : {},
    ),
    recordOutcome: assign(({ event }) => {
      if (event.type === 'STARTED') return {};
      return {
        finishedAt: event.at,
        reason: event.type === 'FAILED' ? event.reason : null,
        output: outputOf(event),
      };
    }),
    recordNoWorker: assign({ reason: NO_WORKER_REASON, finishedAt: ({ context }) => context.deadline }),
    recordDeadline: assign({ finishedAt: ({ context }) => context.deadline }),
    recordLate: assign({
      late: ({ context, event }) =>
        event.type === 'SUCCEEDED' || event.type === 'FAILED' ? [...context.late, { type: event.type, at: event.at }] : context.late,
    }),
  },
}).createMachine({
  id: 'execution',
  context: ({ input }) => initialContext(input),
  initial: 'queued',
  states: {
    queued: {
      after: { untilDeadline: { target: 'failed', actions: 'recordNoWorker' } },
      on: {
        STARTED: { target: 'running', actions: 'recordStart' },
        // A result may overtake its own start notice; the outcome is what counts.
        SUCCEEDED: { target: 'succeeded', actions: 'recordOutcome' },
        FAILED: { target: 'failed', actions: 'recordOutcome' },
        TIMED_OUT: { target: 'timedOut', actions: 'recordOutcome' },
      },
    },
    running: {
      after: { untilDeadline: { target: 'timedOut', actions: 'recordDeadline' } },
      on: {
        SUCCEEDED: { target: 'succeeded', actions: 'recordOutcome' },
        FAILED: { target: 'failed', actions: 'recordOutcome' },
        TIMED_OUT: { target: 'timedOut', actions: 'recordOutcome' },
      },
    },
    // An outcome is never replaced. A start notice its result overtook (statuses are recorded
    // by several apis at once) still tells where and how the execution ran.
    succeeded: { on: { STARTED: { guard: 'startNotRecorded', actions: 'recordStart' } } },
    failed: { on: { STARTED: { guard: 'startNotRecorded', actions: 'recordStart' } } },
    // It also hears results, to record them as late.
    timedOut: {
      on: {
        STARTED: { guard: 'startNotRecorded', actions: 'recordStart' },
        SUCCEEDED: { actions: 'recordLate' },
        FAILED: { actions: 'recordLate' },
      },
    },
  },
});

export type ExecutionSnapshot = SnapshotFrom<typeof executionMachine>;

/** The status an execution is in: the machine's states are the statuses. */
export const statusOf = (snapshot: ExecutionSnapshot): ExecutionStatus => snapshot.value as ExecutionStatus;

/**
 * A queued execution, as a stored one starts. Resolved as a state rather than by running the
 * machine's initial transition: the same snapshot, a tenth of the CPU, and every execution's
 * stream is folded from it on every command (the initial transition showed in profiles).
 */
export const queuedSnapshot = (input: ExecutionInput): ExecutionSnapshot =>
  executionMachine.resolveState({ value: 'queued', context: initialContext(input) });

/** The state of an execution from its events, with no timer and no side effect. */
export function foldExecution(input: ExecutionInput, events: readonly ExecutionReport[]): ExecutionSnapshot {
  let snapshot = queuedSnapshot(input);
  for (const event of events) [snapshot] = transition(executionMachine, snapshot, event);
  return snapshot;
}
