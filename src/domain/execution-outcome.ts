/**
 * What happened to an execution, in each form it takes on its way from a container to the
 * event log, and the one translation at each boundary:
 *
 *   ContainerRunOutcome     the container runtime's answer, on the worker
 *     └ statusFromRun →     WorkerStatus: on the wire, worker → api (`faas.results.<executionId>`)
 *     └ reportFromStatus →  ExecutionReport: what the lifecycle machine (actors/execution) hears
 *     └ eventFromReport →   ExecutionReportEvent: stored in the `execution-…` stream
 *     └ reportFromEvent →   the same ExecutionReport again, when a stream is folded
 *
 * One outcome has three spellings, and each is fixed by what is already out there: `succeeded`
 * on the wire, in the HTTP API and the read models; `SUCCEEDED` for the machine (the API's
 * `lateResults` show it); `ExecutionSucceeded` in stored events. Workers of the previous release
 * and existing event logs must keep working, so the translations above are the only place where
 * one spelling becomes another.
 */
import type { DomainEvent } from './decider.ts';

export const EXECUTION_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timedOut'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** The statuses an execution ends in: its outcome (also the values of the metrics' `outcome` label). */
export const TERMINAL_STATUSES = ['succeeded', 'failed', 'timedOut'] as const satisfies readonly ExecutionStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/**
 * How an execution's container came to run it: one pre-started ahead of the call and waiting for
 * its payload, or one created and started for it (a cold start). Either way the container is
 * used for that one execution only.
 */
export const START_KINDS = ['prestarted', 'cold', 'reused'] as const;
export type StartKind = (typeof START_KINDS)[number];

export const isTerminal = (status: ExecutionStatus): status is TerminalStatus => (TERMINAL_STATUSES as readonly string[]).includes(status);

/** What a run leaves behind for its caller. */
export type ExecutionOutput = {
  /** Null when the process never exited on its own (timed out). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** True when either stream passed the output cap and was cut. */
  truncated: boolean;
  durationMs: number;
};

/** The output a container runtime collects; the exit code belongs to the outcome's kind. */
export type CollectedOutput = Omit<ExecutionOutput, 'exitCode'>;

/** What the ContainerRuntime port (src/ports/container-runtime.ts) answers for one run. */
export type ContainerRunOutcome =
  | ({ kind: 'exited'; exitCode: number; oomKilled: boolean } & CollectedOutput)
  | ({ kind: 'timedOut' } & CollectedOutput)
  /**
   * The platform could not run it: image missing, engine unreachable, bad command… `started`
   * tells whether user code ran; `hostFault`, that the fault is the worker's host (its engine is
   * not there, its disk is full), not the job's: another worker may well run it.
   */
  | { kind: 'failed'; reason: string; started: boolean; hostFault?: boolean };

/**
 * A worker's word about one execution, as JSON on the wire (the JobBus port's StatusMessage adds
 * what only logs and metrics read). A failed or timed-out status carries output only when the
 * container ran.
 */
export type WorkerStatus = (
  | ({ type: 'started'; executionId: string } & StartNotice)
  | ({ type: 'succeeded'; executionId: string; at: string; started?: StartNotice } & ExecutionOutput)
  | ({ type: 'failed'; executionId: string; at: string; reason: string; started?: StartNotice } & Partial<ExecutionOutput>)
  | ({ type: 'timedOut'; executionId: string; at: string; started?: StartNotice } & Partial<ExecutionOutput>)
) &
  AttemptNumber;

/**
 * Which attempt of its execution a job, status, report or event is about (src/domain/retries.ts).
 * Absent for the first, so that what workers and logs of earlier releases carry is attempt 1.
 */
export type AttemptNumber = { attempt?: number };

export const attemptOf = (value: AttemptNumber): number =>
  Number.isSafeInteger(value.attempt) && value.attempt! > 1 ? value.attempt! : 1;

/** The field as carried: absent for the first attempt. */
export const attemptField = (attempt: number): AttemptNumber => (attempt > 1 ? { attempt } : {});

/**
 * That a container started the execution. A run that ends soon after its start carries this in
 * its final status (`started`) rather than in a status of its own, so both are recorded together.
 */
export type StartNotice = {
  at: string;
  workerId: string;
  containerId: string;
  /** Absent from workers of an earlier release. */
  start?: StartKind;
};

/**
 * What a worker, or the api's own clock, says happened: the events of the lifecycle machine,
 * which judges each one (a result after a timeout is late, not a second outcome).
 */
export type ExecutionReport = (
  /** `start` is null when the worker did not say (an earlier release). */
  | { type: 'STARTED'; workerId: string; containerId: string; at: string; start: StartKind | null }
  | ({ type: 'SUCCEEDED'; at: string } & ExecutionOutput)
  | ({ type: 'FAILED'; at: string; reason: string } & Partial<ExecutionOutput>)
  | ({ type: 'TIMED_OUT'; at: string } & Partial<ExecutionOutput>)
) &
  AttemptNumber;

/** A report as stored in its execution's stream, once the machine accepted it. */
export type ExecutionReportEvent =
  /** `start` is absent from events stored before workers reported it. */
  | DomainEvent<'ExecutionStarted', { workerId: string; containerId: string; startedAt: string; start?: StartKind } & AttemptNumber>
  | DomainEvent<'ExecutionSucceeded', ExecutionOutput & { finishedAt: string } & AttemptNumber>
  | DomainEvent<'ExecutionFailed', Partial<ExecutionOutput> & { reason: string; finishedAt: string } & AttemptNumber>
  | DomainEvent<'ExecutionTimedOut', Partial<ExecutionOutput> & { finishedAt: string } & AttemptNumber>;

/** The worker's judgement of a run: exit code 0 succeeds, any other code or an OOM kill fails. */
export function statusFromRun(outcome: ContainerRunOutcome, job: { executionId: string; memoryMb: number } & AttemptNumber, at: Date): WorkerStatus {
  const base = { executionId: job.executionId, ...attemptField(attemptOf(job)), at: at.toISOString() };
  switch (outcome.kind) {
    case 'exited': {
      const { kind: _, oomKilled, exitCode, ...output } = outcome;
      if (oomKilled) {
        return { type: 'failed', ...base, ...output, exitCode, reason: `out of memory: the function exceeded its ${job.memoryMb} MB` };
      }
      return exitCode === 0
        ? { type: 'succeeded', ...base, ...output, exitCode }
        : { type: 'failed', ...base, ...output, exitCode, reason: `exited with code ${exitCode}` };
    }
    case 'timedOut': {
      const { kind: _, ...output } = outcome;
      return { type: 'timedOut', ...base, ...output, exitCode: null };
    }
    case 'failed':
      return { type: 'failed', ...base, reason: outcome.reason };
  }
}

/**
 * The report in a worker's status. Only the fields named here pass: what else the message
 * carries (the correlation id, the phases) is for logs and metrics, never event data.
 */
export function reportFromStatus(status: WorkerStatus): ExecutionReport {
  return { ...reportOfAttempt(status), ...attemptField(attemptOf(status)) };
}

function reportOfAttempt(status: WorkerStatus): ExecutionReport {
  switch (status.type) {
    case 'started':
      return {
        type: 'STARTED',
        workerId: status.workerId,
        containerId: status.containerId,
        at: status.at,
        start: (START_KINDS as readonly unknown[]).includes(status.start) ? (status.start as StartKind) : null,
      };
    case 'succeeded': {
      const { at, exitCode, stdout, stderr, truncated, durationMs } = status;
      return { type: 'SUCCEEDED', at, exitCode, stdout, stderr, truncated, durationMs };
    }
    case 'failed':
      return { type: 'FAILED', at: status.at, reason: status.reason, ...outputFieldsOf(status) };
    case 'timedOut':
      return { type: 'TIMED_OUT', at: status.at, ...outputFieldsOf(status) };
  }
}

/**
 * The reports in a worker's status: its own, after the start it carries (if any). A `started`
 * that is not a start notice is dropped: the outcome alone is still the outcome.
 */
export function reportsFromStatus(status: WorkerStatus): ExecutionReport[] {
  const report = reportFromStatus(status);
  if (status.type === 'started' || !isStartNotice(status.started)) return [report];
  return [reportFromStatus({ type: 'started', executionId: status.executionId, ...status.started, ...attemptField(attemptOf(status)) }), report];
}

const isStartNotice = (value: unknown): value is StartNotice =>
  typeof value === 'object' &&
  value !== null &&
  ['at', 'workerId', 'containerId'].every((field) => typeof (value as Record<string, unknown>)[field] === 'string');

export function eventFromReport(report: ExecutionReport): ExecutionReportEvent {
  switch (report.type) {
    case 'STARTED':
      return {
        type: 'ExecutionStarted',
        data: {
          workerId: report.workerId,
          containerId: report.containerId,
          startedAt: report.at,
          ...(report.start ? { start: report.start } : {}),
          ...attemptField(attemptOf(report)),
        },
      };
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
}

export function reportFromEvent(event: ExecutionReportEvent): ExecutionReport {
  switch (event.type) {
    case 'ExecutionStarted':
      return {
        type: 'STARTED',
        workerId: event.data.workerId,
        containerId: event.data.containerId,
        at: event.data.startedAt,
        start: event.data.start ?? null,
        ...attemptField(attemptOf(event.data)),
      };
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
}

/** The output a report carries, whole; null when it carries none (the container never ran). */
export const outputOf = (report: Partial<ExecutionOutput>): ExecutionOutput | null =>
  report.stdout === undefined && report.exitCode === undefined
    ? null
    : {
        exitCode: report.exitCode ?? null,
        stdout: report.stdout ?? '',
        stderr: report.stderr ?? '',
        truncated: report.truncated ?? false,
        durationMs: report.durationMs ?? 0,
      };

const OUTCOME_RECORDED_BY: Record<ExecutionReportEvent['type'], TerminalStatus | null> = {
  ExecutionStarted: null,
  ExecutionSucceeded: 'succeeded',
  ExecutionFailed: 'failed',
  ExecutionTimedOut: 'timedOut',
};

/** The outcome a stored event of an execution records; null for one that records none. */
export const outcomeRecordedBy = (event: DomainEvent): TerminalStatus | null =>
  Object.hasOwn(OUTCOME_RECORDED_BY, event.type) ? OUTCOME_RECORDED_BY[event.type as ExecutionReportEvent['type']] : null;

const OUTPUT_FIELDS = ['exitCode', 'stdout', 'stderr', 'truncated', 'durationMs'] as const satisfies readonly (keyof ExecutionOutput)[];

/** The output fields a status has, and no others: a field it lacks stays absent, not undefined. */
const outputFieldsOf = (status: Partial<ExecutionOutput>): Partial<ExecutionOutput> =>
  Object.fromEntries(OUTPUT_FIELDS.filter((field) => status[field] !== undefined).map((field) => [field, status[field]]));
