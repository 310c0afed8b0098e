/**
 * One execution in a ready container (prepare.ts), pre-started or created for it: report the
 * start, give the agent its go and stdin, and read the outcome from the agent's report; the
 * engine is asked only when the agent cannot tell (it died, or the function was SIGKILLed and
 * the memory limit may be why).
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { settlesWithin } from '../../src/lib/timers.ts';
import type { ContainerRunOutcome, StartKind } from '../../src/domain/execution-outcome.ts';
import type { ContainerPhase, ContainerRunSpec } from '../../src/ports/container-runtime.ts';
import { messageOf } from '../docker-engine.ts';
import type { AgentEnd } from './agent-session.ts';
import { agentOrDeadline, killContainer } from './deadline.ts';
import { abortReason, failureReason, notStarted } from './failure-reasons.ts';
import type { PreparedContainer } from './prepare.ts';

export type RunSettings = {
  /**
   * How long to wait, once the container was killed or its agent went silent, for its last
   * output and its exit to arrive before giving up on them.
   */
  stopGraceMs: number;
};

const SIGKILL = 9;

export async function runPrepared(
  docker: Docker,
  { container, session, mode }: PreparedContainer,
  spec: ContainerRunSpec,
  settings: RunSettings,
  start: StartKind,
): Promise<ContainerRunOutcome> {
  try {
    await spec.onStarted(container.id, start);
  } catch (error) {
    // The job could not be acked: no go, so its code never runs here (nor twice anywhere).
    return notStarted(`start could not be reported: ${messageOf(error)}`);
  }
  const goAt = performance.now();
  try {
    session.go(spec.stdin, spec.secretEnv);
  } catch (error) {
    // Variables the agent would refuse (runtime.ts checks them before taking a container, so
    // this is a guard): nothing was written, nothing ran, and the message names no value.
    return notStarted(`container could not start: ${messageOf(error)}`);
  }
  const end = await agentOrDeadline(session.ended, spec.timeoutMs, spec.signal);
  reportPhase(spec, 'run', goAt, end.at);
  const collected = () => ({
    stdout: session.stdout.text(),
    stderr: session.stderr.text(),
    truncated: session.stdout.truncated || session.stderr.truncated,
    durationMs: Math.round(end.at - goAt),
  });
  try {
    if (end.kind !== 'reported') {
      await killContainer(container);
      await settlesWithin(session.streamEnded, settings.stopGraceMs);
      if (end.kind === 'timedOut') return { kind: 'timedOut', ...collected() };
      return { kind: 'failed', reason: abortReason(spec.signal), started: true };
    }
    return await outcomeOf(end.agent, container, settings, collected, mode);
  } catch (error) {
    return { kind: 'failed', reason: await failureReason(docker, error, 'container failed'), started: true };
  }
}

async function outcomeOf(
  agent: AgentEnd,
  container: Docker.Container,
  settings: RunSettings,
  collected: () => Omit<Extract<ContainerRunOutcome, { kind: 'exited' }>, 'kind' | 'exitCode' | 'oomKilled'>,
  mode: PreparedContainer['mode'],
): Promise<ContainerRunOutcome> {
  switch (agent.kind) {
    case 'execFailed':
      return notStarted(`container could not start: ${agent.message}`);
    case 'exited': {
      // A SIGKILL the function did not send itself is most often the kernel's OOM killer: only
      // the engine knows, once it has seen the container exit.
      // A reused container's agent lives on and would keep the engine from ever seeing an exit:
      // the container goes (it serves no more after a SIGKILL), and its end tells.
      if (agent.signal === SIGKILL && mode === 'reuse') await killContainer(container);
      const oomKilled = agent.signal === SIGKILL ? (await engineExit(container, settings)).oomKilled : false;
      return { kind: 'exited', exitCode: agent.status, oomKilled, ...collected() };
    }
    case 'lost': {
      // The agent itself is gone (the OOM killer chose it, or someone killed the container):
      // the engine's own exit status is the report, as without an agent.
      const exit = await engineExit(container, settings);
      return { kind: 'exited', exitCode: exit.exitCode, oomKilled: exit.oomKilled, ...collected() };
    }
  }
}

/** The container's exit as the engine records it; an engine that is gone rejects. */
async function engineExit(container: Docker.Container, settings: RunSettings): Promise<{ exitCode: number; oomKilled: boolean }> {
  await settlesWithin(container.wait(), settings.stopGraceMs);
  const { State: state } = await container.inspect();
  if (state.Running) {
    // The agent's stream ended, yet the container runs on: nothing will report it any more.
    await killContainer(container);
    throw new Error('the agent stopped answering');
  }
  return { exitCode: state.ExitCode, oomKilled: state.OOMKilled };
}

/** Tells the caller how long a phase took; a faulty listener must not fail the run. */
export function reportPhase(spec: ContainerRunSpec, phase: ContainerPhase, from: number, to = performance.now()) {
  try {
    spec.onPhase?.(phase, Math.max(0, Math.round(to - from)));
  } catch {}
}
