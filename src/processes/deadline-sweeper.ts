import { type RecordReportDeps, expireExecution, recordStatus } from '../commands/record-report.ts';
import type { CommandDeps } from '../commands/deps.ts';
import { attemptOf } from '../domain/execution-outcome.ts';
import { describeError } from '../ports/logger.ts';
import { type RunningProcess, runEvery } from './process.ts';

const SWEEP_INTERVAL_MS = 1_000;

type Deps = RecordReportDeps & Pick<CommandDeps, 'projections' | 'bus'>;

/**
 * XState does not restore `after` timers from stored state, so the deadline is data and this
 * sweep enforces it: any execution past its deadline with no outcome is ended, even one whose
 * waiting request died with its api process. Returns how many it ended.
 */
export async function sweepDeadlines(deps: Deps): Promise<number> {
  const now = deps.clock.now();
  let expired = 0;
  for (const summary of deps.projections.executions.overdue(now)) {
    const correlationId = `sweeper-${summary.executionId}`;
    await recordStoredOutcome(deps, summary.executionId, summary.attempt, correlationId);
    await expireExecution(deps, summary.executionId, now, correlationId);
    expired++;
  }
  return expired;
}

/**
 * An outcome the bus holds and no recorder has delivered yet (a consumer that lost its server
 * catches up late) is the outcome, not a lost worker: ended as lost, an execution with a retry
 * policy would run again.
 */
async function recordStoredOutcome(deps: Deps, executionId: string, attempt: number, correlationId: string) {
  let stored;
  try {
    stored = await deps.bus.lastStatus(executionId);
  } catch (error) {
    deps.log('warn', 'stored status not read before the deadline', { executionId, ...describeError(error) });
    return;
  }
  if (stored && stored.type !== 'started' && attemptOf(stored) === attempt) {
    await recordStatus(deps, stored, correlationId);
    deps.log('info', 'stored outcome recorded at the deadline', { executionId, outcome: stored.type, correlationId });
  }
}

/** Sweeps every second. */
export const startDeadlineSweeper = (deps: Deps, intervalMs = SWEEP_INTERVAL_MS): RunningProcess =>
  runEvery(intervalMs, () => sweepDeadlines(deps), (error) => deps.log('warn', 'deadline sweep failed', describeError(error)));
