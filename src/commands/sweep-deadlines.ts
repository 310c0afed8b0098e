import type { Platform } from '../platform.ts';
import { expireExecution } from './record-report.ts';

/**
 * XState does not restore `after` timers from stored state, so the deadline is data and this
 * sweep enforces it: any execution past its deadline with no outcome is ended, even one whose
 * waiting request died with its api process.
 */
export async function sweepDeadlines(platform: Platform): Promise<number> {
  const now = platform.clock.now();
  let expired = 0;
  for (const summary of platform.projections.executions.overdue(now)) {
    await expireExecution(platform, summary.executionId, now, `sweeper-${summary.executionId}`);
    expired++;
  }
  return expired;
}
