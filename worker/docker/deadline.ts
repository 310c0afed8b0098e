/**
 * How a started container's run ends: it exits, or the function's deadline (or an abort) comes
 * first and it is killed, or the engine went away under it.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { LONGEST_TIMER_MS, settlesWithin } from '../../src/lib/timers.ts';

export type Ending = { kind: 'exited' | 'timedOut' | 'aborted'; at: number };

/**
 * Resolves when the container exits, or at the deadline (or an abort) after killing it with
 * SIGKILL (a process that ignores SIGTERM must still stop) and waiting a grace period for the exit.
 */
export async function exitOrKillAtDeadline(
  container: Docker.Container,
  timeoutMs: number,
  graceMs: number,
  signal: AbortSignal | undefined,
  outputEnded: Promise<void>,
): Promise<Ending> {
  const exited = container.wait().then((): Ending => ({ kind: 'exited', at: performance.now() }));
  const exitedOrEngineGone = exitUnlessEngineGone(container, exited, outputEnded, graceMs);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<Ending>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timedOut', at: performance.now() }), Math.min(timeoutMs, LONGEST_TIMER_MS));
    onAbort = () => resolve({ kind: 'aborted', at: performance.now() });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const end = await Promise.race([exited, exitedOrEngineGone, deadline]);
    if (end.kind !== 'exited') {
      await killContainer(container);
      await settlesWithin(exited, graceMs);
    }
    return end;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The wait, unless the engine went away: docker-modem settles a wait only when the engine's
 * answer ends, so when the engine dies mid-run the connection closes and the wait never settles.
 * The attach stream closes with it: once the output has ended and the wait has not answered
 * within the grace, the engine is asked. Unreachable, it rejects with that error; a container
 * that closed its output and runs on leaves it to the wait and the deadline.
 */
async function exitUnlessEngineGone(container: Docker.Container, exited: Promise<Ending>, outputEnded: Promise<void>, graceMs: number): Promise<Ending> {
  await outputEnded;
  if (await settlesWithin(exited, graceMs)) return exited;
  const { State: state } = await container.inspect();
  return state.Running ? exited : { kind: 'exited', at: performance.now() };
}

export async function killContainer(container: Docker.Container): Promise<void> {
  // Fails when the container has just exited on its own, which is as good.
  await container.kill({ signal: 'SIGKILL' }).catch(() => {});
}
