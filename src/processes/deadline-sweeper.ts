import { type RecordReportDeps, expireExecution } from '../commands/record-report.ts';
import type { CommandDeps } from '../commands/deps.ts';
import { describeError } from '../ports/logger.ts';
import type { RunningProcess } from './process.ts';

const SWEEP_INTERVAL_MS = 1_000;

type Deps = RecordReportDeps & Pick<CommandDeps, 'projections'>;

/**
 * XState does not restore `after` timers from stored state, so the deadline is data and this
 * sweep enforces it: any execution past its deadline with no outcome is ended, even one whose
 * waiting request died with its api process. Returns how many it ended.
 */
export async function sweepDeadlines(deps: Deps): Promise<number> {
  const now = deps.clock.now();
  let expired = 0;
  for (const summary of deps.projections.executions.overdue(now)) {
    await expireExecution(deps, summary.executionId, now, `sweeper-${summary.executionId}`);
    expired++;
  }
  return expired;
}

/** Sweeps every second; a sweep still running when the next is due is not doubled. */
export function startDeadlineSweeper(deps: Deps, intervalMs = SWEEP_INTERVAL_MS): RunningProcess {
  let sweeping: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    sweeping ??= sweepDeadlines(deps)
      .catch((error: unknown) => deps.log('warn', 'deadline sweep failed', describeError(error)))
      .finally(() => {
        sweeping = undefined;
      });
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await sweeping;
    },
  };
}
