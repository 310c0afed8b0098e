import type { ServerProcess } from '../../support/server-process.ts';

/**
 * How many times each execution's container started, and its job was handed to a worker, from
 * the workers' log lines ("execution started", "job received"). Not `docker events` by the
 * `faasbox.execution` label: a pre-started container is created before its execution is known
 * and carries no such label (it is renamed when taken), so the events would miss every warm run.
 */
export function workerCounts(workers: readonly ServerProcess[]) {
  const started = new Map<string, number>();
  const received = new Map<string, number>();
  for (const line of workers.flatMap((worker) => worker.output)) {
    let entry: { message?: unknown; executionId?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (typeof entry.executionId !== 'string') continue;
    const counts = entry.message === 'execution started' ? started : entry.message === 'job received' ? received : null;
    counts?.set(entry.executionId, (counts.get(entry.executionId) ?? 0) + 1);
  }
  return { started, received };
}
