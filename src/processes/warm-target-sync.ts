import { warmTargetFor } from '../commands/function-env.ts';
import { readState } from '../commands/handle-command.ts';
import type { CommandDeps } from '../commands/deps.ts';
import { functionDecider, warmTargetOf } from '../domain/functions.ts';
import { functionStream } from '../domain/streams.ts';
import { describeError } from '../ports/logger.ts';
import type { RunningProcess } from './process.ts';

const SYNC_INTERVAL_MS = 60_000;

type Deps = Pick<CommandDeps, 'store' | 'bus' | 'keys' | 'projections' | 'log'>;

/**
 * Creating or deleting a function sets or removes its warm target on the bus right after the
 * event; when the bus was down then (or the api died in between), this puts it right: every
 * function with minWarm has its target, and a target whose function is gone is removed. A target
 * is removed only when the function's own stream says it is deleted, never because a read model
 * (perhaps behind) does not list it.
 */
export async function syncWarmTargets(deps: Deps): Promise<{ set: number; removed: number }> {
  const live = deps.projections.functions.withMinWarm();
  const present = await deps.bus.listWarmTargets();
  // A function's target never changes while it lives: only the missing ones are set, so a sync
  // in the steady state writes nothing and every worker hears nothing.
  const missing = live.filter((definition) => !present.includes(definition.functionId));
  for (const definition of missing) await deps.bus.setWarmTarget(definition.functionId, await warmTargetFor(deps.keys, definition));
  const wanted = new Set(live.map((definition) => definition.functionId));
  let removed = 0;
  for (const functionId of present) {
    if (wanted.has(functionId)) continue;
    const { state } = await readState(deps.store, functionDecider, functionStream(functionId));
    if (state.status === 'active' && warmTargetOf(state.definition)) continue;
    await deps.bus.setWarmTarget(functionId, null);
    removed++;
  }
  return { set: missing.length, removed };
}

/** Syncs once the read models have caught up, then every minute. */
export function startWarmTargetSync(deps: Deps, intervalMs = SYNC_INTERVAL_MS): RunningProcess {
  let syncing: Promise<unknown> | undefined;
  let stopped = false;
  const sync = () => {
    if (stopped) return;
    syncing ??= syncWarmTargets(deps)
      .catch((error: unknown) => deps.log('warn', 'warm targets not synced', describeError(error)))
      .finally(() => {
        syncing = undefined;
      });
  };
  void deps.projections.runner.ready.then(sync, () => undefined);
  const timer = setInterval(sync, intervalMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await syncing;
    },
  };
}
