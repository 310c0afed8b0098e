/**
 * Removes the containers of executions no worker will ever finish: those a worker left behind
 * when it died, found again by their labels. A worker acks a job as its container starts, so
 * that user code runs at most once; a worker that dies after that leaves the execution to time
 * out, and its container to this reaper, run by the next worker that starts and then at each
 * housekeeping interval.
 */
import type Docker from 'dockerode';
import { EXECUTION_LABEL, PRESTARTED_LABEL, SLOT_LABEL, WORKER_LABEL, attemptOfContainer, executionOfContainerName } from './container-config.ts';

export type ReapOptions = {
  /** This worker: its own leftovers are reaped whatever their age. */
  workerId: string;
  /**
   * Whether this worker runs the execution now: its container is alive, not left over. Asked
   * after the containers are listed, so an execution that starts meanwhile is not in the list.
   */
  isInFlight(executionId: string): boolean;
  /** Whether this worker's runtime still holds the container (pre-started, running, being removed). */
  isOwned(container: { containerId: string; slotId: string | null }): boolean;
  /**
   * Longest a live worker lets a container live (the longest allowed timeout plus the grace):
   * another worker's container older than that has no live worker to kill it.
   */
  overdueAfterMs: number;
  /**
   * Longest a live worker keeps a pre-started container waiting: another worker's older than
   * that plus overdueAfterMs (it may have been taken at the last moment) has nobody left.
   */
  prestartedMaxAgeMs: number;
  now?: () => Date;
  /**
   * Called once per reaped container whose user code had started, right after its removal: the
   * caller reports that attempt of the execution failed. A failure is returned among the problems; reaping goes on.
   */
  report(executionId: string, attempt: number): Promise<void>;
};

export type ReapedContainer = {
  containerId: string;
  /** Null for a pre-started container no execution took. */
  executionId: string | null;
  /** Its `faasbox.worker` label; null when it has none. */
  workerId: string | null;
  why: OrphanCause;
  /**
   * False for a container that never started (its job was not acked and comes back on its own),
   * or when the report failed (the api's deadline sweeper still ends the execution).
   */
  reported: boolean;
};

export type OrphanCause = 'left by an earlier run of this worker' | 'overdue';

export type ReapResult = {
  removed: ReapedContainer[];
  /** Containers that could not be removed (tried again next time), or executions not reported. */
  problems: { containerId: string; executionId: string | null; step: 'remove' | 'report'; error: unknown }[];
};

export type OrphanRules = Pick<ReapOptions, 'workerId' | 'isInFlight' | 'isOwned' | 'overdueAfterMs' | 'prestartedMaxAgeMs'> & { now: Date };

export type Orphan = {
  containerId: string;
  executionId: string | null;
  /** Which attempt of the execution the container ran (1 for a pre-started one no execution took). */
  attempt: number;
  workerId: string | null;
  why: OrphanCause;
  /** False while `created`: no user code ran, and its job, never acked, will be offered again. */
  started: boolean;
};


/**
 * Lists every execution container on the engine, removes the orphans among them, reports the
 * executions whose code had started, and returns what it did. A container another party removed
 * first (its worker finishing it right now) is neither counted nor reported. One container that
 * cannot be removed does not stop the others.
 */
export async function reapOrphans(docker: Docker, options: ReapOptions): Promise<ReapResult> {
  const [executions, prestarted] = await Promise.all([
    docker.listContainers({ all: true, filters: { label: [EXECUTION_LABEL] } }),
    docker.listContainers({ all: true, filters: { label: [PRESTARTED_LABEL] } }),
  ]);
  const containers = [...executions, ...prestarted];
  const orphans = orphansAmong(containers, { ...options, now: (options.now ?? (() => new Date()))() });
  const result: ReapResult = { removed: [], problems: [] };
  for (const orphan of orphans) {
    const { containerId, executionId, workerId, why } = orphan;
    try {
      if (!(await removedByUs(docker, containerId))) continue;
    } catch (error) {
      result.problems.push({ containerId, executionId, step: 'remove', error });
      continue;
    }
    let reported = false;
    if (orphan.started && executionId !== null) {
      try {
        await options.report(executionId, orphan.attempt);
        reported = true;
      } catch (error) {
        result.problems.push({ containerId, executionId, step: 'report', error });
      }
    }
    result.removed.push({ containerId, executionId, workerId, why, reported });
  }
  return result;
}

/** The pure decision: which of these containers has nobody left to finish it, and why. */
export function orphansAmong(containers: readonly Docker.ContainerInfo[], options: OrphanRules): Orphan[] {
  const orphans: Orphan[] = [];
  for (const container of containers) {
    const prestarted = container.Labels[PRESTARTED_LABEL] !== undefined;
    // A pre-started container taken by an execution carries its id in its name only.
    const executionId = container.Labels[EXECUTION_LABEL] ?? (prestarted ? executionOfContainerName(container.Names[0]) : null);
    if (executionId === null && !prestarted) continue;
    const workerId = container.Labels[WORKER_LABEL] ?? null;
    const why = causeOf(container, executionId, workerId, prestarted, options);
    if (why) orphans.push({ containerId: container.Id, executionId, attempt: attemptOfContainer(container), workerId, why, started: hasStarted(container) });
  }
  return orphans;
}

function causeOf(
  container: Docker.ContainerInfo,
  executionId: string | null,
  workerId: string | null,
  prestarted: boolean,
  options: OrphanRules,
): OrphanCause | null {
  if (workerId === options.workerId) {
    const alive = options.isOwned({ containerId: container.Id, slotId: container.Labels[SLOT_LABEL] ?? null }) || (executionId !== null && options.isInFlight(executionId));
    return alive ? null : 'left by an earlier run of this worker';
  }
  // There is no registry of live workers: age is the evidence. A live worker kills a container
  // at its function's timeout (at most the longest allowed), so one older than that plus the
  // grace belongs to a worker that is gone; a pre-started one may first wait up to its maximum age.
  const limit = prestarted ? options.prestartedMaxAgeMs + options.overdueAfterMs : options.overdueAfterMs;
  return ageMs(container, options.now) > limit ? 'overdue' : null;
}

/**
 * The engine lists `Created` in whole seconds: counting from the end of that second can only
 * make a container look younger than it is, so a live one is never reaped early.
 */
const ageMs = (container: Docker.ContainerInfo, now: Date) => now.getTime() - (container.Created + 1) * 1000;

const hasStarted = (container: Docker.ContainerInfo) => container.State !== 'created';

/** True when this call removed it; false when it was already gone or being removed by someone else. */
async function removedByUs(docker: Docker, containerId: string): Promise<boolean> {
  try {
    await docker.getContainer(containerId).remove({ force: true, v: true });
    return true;
  } catch (error) {
    const { statusCode } = error as { statusCode?: unknown };
    // 404: gone already; 409: "removal already in progress", by the worker that ran it.
    if (statusCode === 404 || statusCode === 409) return false;
    throw error;
  }
}
