/**
 * How an execution's run ends: its agent reports (the function exited, or could not start, or
 * the agent went silent), or the function's deadline (or an abort) comes first.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { LONGEST_TIMER_MS } from '../../src/lib/timers.ts';
import type { AgentEnd } from './agent-session.ts';

export type Ending = { kind: 'reported'; agent: AgentEnd; at: number } | { kind: 'timedOut' | 'aborted'; at: number };

/** The caller kills the container on `timedOut` or `aborted`: a process that ignores SIGTERM must still stop. */
export async function agentOrDeadline(ended: Promise<AgentEnd>, timeoutMs: number, signal: AbortSignal | undefined): Promise<Ending> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const from = performance.now();
  const deadline = new Promise<Ending>((resolve) => {
    // A timer may fire a millisecond early by this clock (libuv counts whole milliseconds from
    // its own loop time): a timed-out run has run its whole timeout.
    timer = setTimeout(() => resolve({ kind: 'timedOut', at: Math.max(performance.now(), from + timeoutMs) }), Math.min(timeoutMs, LONGEST_TIMER_MS));
    onAbort = () => resolve({ kind: 'aborted', at: performance.now() });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([ended.then((agent): Ending => ({ kind: 'reported', agent, at: performance.now() })), deadline]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

export async function killContainer(container: Docker.Container): Promise<void> {
  // Fails when the container has just exited on its own, which is as good.
  await container.kill({ signal: 'SIGKILL' }).catch(() => {});
}
