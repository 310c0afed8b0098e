/**
 * One created container from its start to its outcome: attach, start, report the start, feed
 * stdin, wait (or kill at the deadline), and read the result.
 */
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { settlesWithin } from '../../src/lib/timers.ts';
import type { ContainerRunOutcome } from '../../src/domain/execution-outcome.ts';
import type { ContainerPhase, ContainerRunSpec } from '../../src/ports/container-runtime.ts';
import { type ImagePruner, retriedWhenOutOfSpace } from '../disk/index.ts';
import { messageOf } from '../docker-engine.ts';
import { exitOrKillAtDeadline, killContainer } from './deadline.ts';
import { abortReason, failureReason, notStarted } from './failure-reasons.ts';
import { cappedCollector, demuxOutput, endOf } from './output.ts';

export type RunSettings = {
  outputLimitBytes: number;
  stopGraceMs: number;
  /** Whether docker-init runs as PID 1 (its own exec failures are then read from stderr). */
  init: boolean;
  pruner: ImagePruner | null;
};

export async function runCreatedContainer(
  docker: Docker,
  container: Docker.Container,
  spec: ContainerRunSpec,
  settings: RunSettings,
  /** When the create began (performance.now()): the create-and-start phase runs from there. */
  creating: number,
): Promise<ContainerRunOutcome> {
  const stdout = cappedCollector(settings.outputLimitBytes);
  const stderr = cappedCollector(settings.outputLimitBytes);
  // Attached before start, so not a byte of output is missed.
  const attach = async () => {
    const attached = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    // Writing stdin to a container that exited without reading it fails (EPIPE); the outcome is
    // decided by the exit, not by the socket.
    attached.on('error', () => {});
    demuxOutput(attached, stdout.sink, stderr.sink);
    return { stream: attached, outputEnded: endOf(attached) };
  };
  let connection: Awaited<ReturnType<typeof attach>>;
  try {
    connection = await attach();
  } catch (error) {
    return notStarted(await failureReason(docker, error, 'container could not be attached'));
  }

  try {
    try {
      await retriedWhenOutOfSpace(
        settings.pruner,
        `start from ${spec.image}`,
        () => container.start(),
        // A failed start leaves the container created, so it can be started again, but the
        // engine closes its streams: the retry needs a new attach (seen on Docker 20.10).
        async () => {
          connection.stream.destroy();
          connection = await attach();
        },
      );
    } catch (error) {
      return notStarted(await failureReason(docker, error, 'container could not start'));
    }
    const { stream, outputEnded } = connection;
    const startedAt = performance.now();
    reportPhase(spec, 'createStart', creating, startedAt);
    // The deadline runs from the start, not from the end of onStarted: a slow ack must not give
    // user code more time.
    const ending = exitOrKillAtDeadline(container, spec.timeoutMs, settings.stopGraceMs, spec.signal, outputEnded);
    ending.catch(() => {}); // awaited below; this only keeps an early rejection from being "unhandled"

    try {
      await spec.onStarted(container.id);
    } catch (error) {
      // The job could not be acked: let the run end here rather than risk running it twice.
      await killContainer(container);
      return { kind: 'failed', reason: `start could not be reported: ${messageOf(error)}`, started: true };
    }
    stream.end(Buffer.from(spec.stdin.buffer, spec.stdin.byteOffset, spec.stdin.byteLength));

    const end = await ending;
    reportPhase(spec, 'run', startedAt, end.at);
    await settlesWithin(outputEnded, settings.stopGraceMs);
    const collected = () => ({
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.truncated || stderr.truncated,
      durationMs: Math.round(end.at - startedAt),
    });
    if (end.kind === 'timedOut') return { kind: 'timedOut', ...collected() };
    if (end.kind === 'aborted') return { kind: 'failed', reason: abortReason(spec.signal), started: true };

    const { State: state } = await container.inspect();
    const output = collected();
    const execFailure = settings.init ? initExecFailure(state.ExitCode, output.stderr) : null;
    if (execFailure) return notStarted(`container could not start: ${execFailure}`);
    return { kind: 'exited', exitCode: state.ExitCode, oomKilled: state.OOMKilled, ...output };
  } catch (error) {
    return { kind: 'failed', reason: await failureReason(docker, error, 'container failed'), started: true };
  } finally {
    connection.stream.destroy();
  }
}

/** Tells the caller how long a phase took; a faulty listener must not fail the run. */
export function reportPhase(spec: ContainerRunSpec, phase: ContainerPhase, from: number, to = performance.now()) {
  try {
    spec.onPhase?.(phase, Math.max(0, Math.round(to - from)));
  } catch {}
}

/**
 * tini (docker-init) starts before the user's command, so an executable missing from the image
 * is not a start error from the engine but tini's own message and exit code 127 (126 when not
 * executable). Seen that way, it is a container that could not start, not user code that failed.
 */
function initExecFailure(exitCode: number, stderr: string): string | null {
  if (exitCode !== 126 && exitCode !== 127) return null;
  return /^\[FATAL tini \(\d+\)\] (exec .*? failed: [^\n]*)/.exec(stderr)?.[1] ?? null;
}
