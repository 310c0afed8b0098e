import type { CommandDeps } from '../commands/deps.ts';
import { type DispatchDeps, dispatchRetry } from '../commands/dispatch-retry.ts';
import { describeError } from '../ports/logger.ts';
import { type RunningProcess, runEvery } from './process.ts';

const DISPATCH_INTERVAL_MS = 250;

type Deps = DispatchDeps & Pick<CommandDeps, 'projections'>;

/**
 * Hands each scheduled attempt whose time has come to the workers (commands/dispatch-retry.ts).
 * The read model says which are due; the stream decides, so every api may run this at once.
 */
export async function dispatchDueRetries(deps: Deps): Promise<number> {
  let dispatched = 0;
  for (const { executionId } of deps.projections.executions.retriesDue(deps.clock.now())) {
    if ((await dispatchRetry(deps, executionId, `retry-${executionId}`)) === 'dispatched') dispatched++;
  }
  return dispatched;
}

/** Runs four times a second. */
export const startRetryDispatcher = (deps: Deps, intervalMs = DISPATCH_INTERVAL_MS): RunningProcess =>
  runEvery(intervalMs, () => dispatchDueRetries(deps), (error) => deps.log('warn', 'retry dispatch failed', describeError(error)));
