/**
 * One container's attach stream, spoken through its agent (worker/agent/protocol.ts): ready,
 * then the go header and the function's stdin, then the function's output and its exit, in-band.
 * In-band, the worker answers as soon as the function exits, without waiting 70–80 ms for the
 * engine's own exit bookkeeping. A reused container's agent then cleans up and waits for the
 * next go on the same stream: each execution gets a session of its own (`next`).
 */
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { type GoEnv, agentFrameReader, oneShotGo, reuseGo } from '../agent/protocol.ts';
import { type CappedCollector, cappedCollector, demuxOutput, endOf } from './output.ts';
import { Writable } from 'node:stream';

/** How the agent's part ended: the function's exit, a command that could not start, or no word. */
export type AgentEnd =
  | { kind: 'exited'; status: number; signal: number }
  | { kind: 'execFailed'; message: string }
  /** The stream ended (or stopped making sense) before a report: the agent died, or the container did. */
  | { kind: 'lost'; detail: string };

export type AgentSession = {
  /** Resolves once the agent runs and waits for its go; rejects if the stream ends first. */
  readonly ready: Promise<void>;
  /**
   * Starts the function with this stdin and, in its process only, these variables (the call's
   * secrets: in the go, never in the container's config). Once per session. Throws, naming no
   * value, variables the agent would refuse (goEnvProblem), before anything is written.
   */
  go(stdin: Uint8Array, env?: GoEnv): void;
  /** Settles once the agent reports, or its stream ends without a report. Never rejects. */
  readonly ended: Promise<AgentEnd>;
  /** Resolves when the attach stream has ended or closed: no more output will come. */
  readonly streamEnded: Promise<void>;
  readonly stdout: CappedCollector;
  readonly stderr: CappedCollector;
  /**
   * Reuse: true once the agent, after this execution, killed what it left and emptied /tmp and
   * waits for the next go; false when it could not ('D') or said nothing more. Always false for
   * a container that serves one execution.
   */
  readonly cleaned: Promise<boolean>;
  /** Reuse, once `cleaned` gave true: the session of the next execution, on the same stream. */
  next(): AgentSession;
  /** Drops the connection (the container's stdin closes with it). */
  close(): void;
};

/** `once`: the agent runs one execution and exits; `reuse`: it serves one after another (protocol.ts). */
export type AgentMode = 'once' | 'reuse';

/** One execution's part of the stream: its output, its end, and (reuse) the clean-up after it. */
type Round = {
  stdout: CappedCollector;
  stderr: CappedCollector;
  ended: Promise<AgentEnd>;
  finish(value: AgentEnd): void;
  cleaned: Promise<boolean>;
  markCleaned(clean: boolean): void;
};

function newRound(outputLimitBytes: number): Round {
  let end: (value: AgentEnd) => void = () => {};
  const ended = new Promise<AgentEnd>((resolve) => (end = resolve));
  let finished = false;
  let clean: (value: boolean) => void = () => {};
  const cleaned = new Promise<boolean>((resolve) => (clean = resolve));
  return {
    stdout: cappedCollector(outputLimitBytes),
    stderr: cappedCollector(outputLimitBytes),
    ended,
    finish(value) {
      if (finished) return;
      finished = true;
      end(value);
      // No report, no clean-up: the agent is gone or not to be trusted.
      if (value.kind === 'lost') clean(false);
    },
    cleaned,
    markCleaned: clean,
  };
}

/**
 * Attaches to a created container; call before its start, so that not a byte is missed. Output
 * beyond `outputLimitBytes` per stream, per execution, is counted and dropped, as in cappedCollector.
 */
export async function attachAgent(container: Docker.Container, outputLimitBytes: number, mode: AgentMode = 'once'): Promise<AgentSession> {
  const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
  // Writing stdin to a container that exited without reading it fails (EPIPE); the outcome is
  // decided by the agent's report or the engine, not by the socket.
  stream.on('error', () => {});
  const streamEnded = endOf(stream);

  let markReady: () => void = () => {};
  let failReady: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // a pre-started container that dies unused is only dropped
  let round = newRound(outputLimitBytes);
  const finish = (value: AgentEnd) => {
    failReady(new Error(`the agent did not start: ${value.kind === 'lost' ? value.detail : value.kind}`));
    round.finish(value);
  };

  // What the agent itself wrote on its stderr (nothing, unless it is not our agent or it
  // failed before it could frame): kept for the report of a lost session.
  const agentStderr = cappedCollector(4096);
  const frames = agentFrameReader((frame) => {
    switch (frame.type) {
      case 'ready':
        return markReady();
      case 'stdout':
        return void round.stdout.sink.write(frame.bytes);
      case 'stderr':
        return void round.stderr.sink.write(frame.bytes);
      case 'exit':
        return finish({ kind: 'exited', status: frame.status, signal: frame.signal });
      case 'execFailed':
        return finish({ kind: 'execFailed', message: frame.message });
      case 'clean':
        return round.markCleaned(true);
      case 'dirty':
        return round.markCleaned(false);
      case 'garbled':
        return finish({ kind: 'lost', detail: `unreadable report from the agent (${frame.detail})` });
    }
  });
  demuxOutput(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        frames(chunk);
        done();
      },
    }),
    agentStderr.sink,
  );
  void streamEnded.then(() => {
    const said = agentStderr.text().trim();
    finish({ kind: 'lost', detail: said ? `the agent ended without a report: ${said}` : 'the agent ended without a report' });
    round.markCleaned(false);
  });

  const sessionOf = (own: Round): AgentSession => {
    let went = false;
    return {
      ready,
      go(stdin, env) {
        if (went) throw new Error('go() was already called');
        const bytes = Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength);
        const header = mode === 'once' ? oneShotGo(env) : reuseGo(bytes.byteLength, env);
        went = true;
        stream.write(header);
        if (mode === 'once') stream.end(bytes);
        else stream.write(bytes);
      },
      ended: own.ended,
      streamEnded,
      stdout: own.stdout,
      stderr: own.stderr,
      cleaned: mode === 'once' ? Promise.resolve(false) : own.cleaned,
      next() {
        if (mode === 'once' || round !== own) throw new Error('next() of a session that is not the last one of a reused container');
        round = newRound(outputLimitBytes);
        return sessionOf(round);
      },
      close: () => stream.destroy(),
    };
  };
  return sessionOf(round);
}
