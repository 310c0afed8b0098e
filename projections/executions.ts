import type { ExecutionEvent } from '../src/domain/executions.ts';
import { streamPrefixes } from '../src/domain/streams.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timedOut';

/** What lists show of an execution; the output itself is read from its stream. */
export type ExecutionSummary = {
  executionId: string;
  functionId: string;
  ownerId: string;
  status: ExecutionStatus;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  deadline: string;
  exitCode: number | null;
  durationMs: number | null;
  reason: string | null;
};

export type ExecutionsProjection = Projection & {
  get(executionId: string): ExecutionSummary | undefined;
  /** Newest first. */
  listByFunction(functionId: string, limit: number): ExecutionSummary[];
  /** Queued or running executions, per user and in total. */
  active(): { total: number; byUser: Map<string, number> };
  /** Queued or running executions whose deadline has passed at `now`. */
  overdue(now: Date): ExecutionSummary[];
};

const TERMINAL = new Set<ExecutionStatus>(['succeeded', 'failed', 'timedOut']);

export function createExecutionsProjection(): ExecutionsProjection {
  const executions = new Map<string, ExecutionSummary>();
  const byFunction = new Map<string, string[]>();
  const active = new Set<string>();

  // The execution machine decided each stored event already: the first outcome is the outcome,
  // and a later one (a late result after a timeout) changes no summary.
  const finish = (summary: ExecutionSummary, status: ExecutionStatus, data: { finishedAt: string }) => {
    if (TERMINAL.has(summary.status)) return false;
    summary.status = status;
    summary.finishedAt = data.finishedAt;
    active.delete(summary.executionId);
    return true;
  };

  return {
    name: 'executions',
    streamPrefixes: [streamPrefixes.execution],
    apply(recorded: RecordedEvent) {
      const event = recorded as unknown as ExecutionEvent & RecordedEvent;
      if (event.type === 'ExecutionQueued') {
        const { executionId, functionId, ownerId, queuedAt, deadline } = event.data;
        executions.set(executionId, {
          executionId,
          functionId,
          ownerId,
          status: 'queued',
          queuedAt,
          startedAt: null,
          finishedAt: null,
          deadline,
          exitCode: null,
          durationMs: null,
          reason: null,
        });
        const list = byFunction.get(functionId) ?? [];
        list.push(executionId);
        byFunction.set(functionId, list);
        active.add(executionId);
        return;
      }
      const summary = executions.get(recorded.streamName.slice(streamPrefixes.execution.length));
      if (!summary) return;
      switch (event.type) {
        case 'ExecutionStarted':
          if (summary.status === 'queued') {
            summary.status = 'running';
            summary.startedAt = event.data.startedAt;
          }
          return;
        case 'ExecutionSucceeded':
          if (finish(summary, 'succeeded', event.data)) {
            summary.exitCode = event.data.exitCode;
            summary.durationMs = event.data.durationMs;
          }
          return;
        case 'ExecutionFailed':
          if (finish(summary, 'failed', event.data)) {
            summary.exitCode = event.data.exitCode ?? null;
            summary.durationMs = event.data.durationMs ?? null;
            summary.reason = event.data.reason;
          }
          return;
        case 'ExecutionTimedOut':
          if (finish(summary, 'timedOut', event.data)) summary.durationMs = event.data.durationMs ?? null;
          return;
      }
    },
    get: (executionId) => executions.get(executionId),
    listByFunction(functionId, limit) {
      const ids = byFunction.get(functionId) ?? [];
      const newestFirst: ExecutionSummary[] = [];
      for (let i = ids.length - 1; i >= 0 && newestFirst.length < limit; i--) {
        const summary = executions.get(ids[i]!);
        if (summary) newestFirst.push(summary);
      }
      return newestFirst;
    },
    active() {
      const byUser = new Map<string, number>();
      for (const executionId of active) {
        const ownerId = executions.get(executionId)!.ownerId;
        byUser.set(ownerId, (byUser.get(ownerId) ?? 0) + 1);
      }
      return { total: active.size, byUser };
    },
    overdue(now) {
      const due: ExecutionSummary[] = [];
      for (const executionId of active) {
        const summary = executions.get(executionId)!;
        if (Date.parse(summary.deadline) <= now.getTime()) due.push(summary);
      }
      return due;
    },
  };
}
