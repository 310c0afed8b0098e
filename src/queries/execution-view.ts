import { statusOf } from '../../actors/execution.ts';
import { callbackView } from './callbacks.ts';
import type { PresentExecution } from './executions.ts';
import type { QueryDeps } from './deps.ts';

/** An execution as the API answers it (GET /v1/executions/{id}), from its folded stream. */
export function executionView(state: PresentExecution) {
  const { context } = state.snapshot;
  const output = context.output;
  return {
    executionId: state.queued.executionId,
    functionId: state.queued.functionId,
    functionVersion: state.queued.functionVersion ?? 1,
    imageDigest: state.queued.imageDigest ?? null,
    status: statusOf(state.snapshot),
    exitCode: output?.exitCode ?? null,
    stdout: output?.stdout ?? '',
    stderr: output?.stderr ?? '',
    truncated: output?.truncated ?? false,
    durationMs: output?.durationMs ?? null,
    reason: context.reason,
    queuedAt: state.queued.queuedAt,
    startedAt: context.startedAt,
    finishedAt: context.finishedAt,
    start: context.start,
    lateResults: context.late,
    attempt: state.attempt,
    attempts: state.attempts,
    nextAttemptAt: state.retryAt,
    deadLetter: state.deadLetter,
    redriveOf: state.queued.redriveOf ?? null,
  };
}

export type ExecutionView = ReturnType<typeof executionView>;

/** The execution as GET /v1/executions/{id} answers it: its view and its callback's deliveries. */
export const executionRecord = async (deps: Pick<QueryDeps, 'store'>, state: PresentExecution) => ({
  ...executionView(state),
  callback: await callbackView(deps, state),
});
