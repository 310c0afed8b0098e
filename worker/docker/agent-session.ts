/**
 * One container's attach stream, spoken through its agent (worker/agent/protocol.ts): ready,
 * then the go header and the function's stdin, then the function's output and its exit, in-band.
 * In-band, the worker answers as soon as the function exits, without waiting 70–80 ms for the
 * engine's own exit bookkeeping.
 */
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { GO_HEADER, agentFrameReader } from '../agent/protocol.ts';
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
  /** Starts the function with this stdin, then closes it. Once. */
  go(stdin: Uint8Array): void;
  /** Settles once the agent reports, or its stream ends without a report. Never rejects. */
  readonly ended: Promise<AgentEnd>;
  /** Resolves when the attach stream has ended or closed: no more output will come. */
  readonly streamEnded: Promise<void>;
  readonly stdout: CappedCollector;
  readonly stderr: CappedCollector;
  /** Drops the connection (the container's stdin closes with it). */
  close(): void;
};

/**
 * Attaches to a created container; call before its start, so that not a byte is missed. Output
 * beyond `outputLimitBytes` per stream is counted and dropped, as in cappedCollector.
 */
export async function attachAgent(container: Docker.Container, outputLimitBytes: number): Promise<AgentSession> {
  const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
  // Writing stdin to a container that exited without reading it fails (EPIPE); the outcome is
  // decided by the agent's report or the engine, not by the socket.
  stream.on('error', () => {});
  const stdout = cappedCollector(outputLimitBytes);
  const stderr = cappedCollector(outputLimitBytes);
  const streamEnded = endOf(stream);

  let markReady: () => void = () => {};
  let failReady: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // a pre-started container that dies unused is only dropped
  let end: (value: AgentEnd) => void = () => {};
  const ended = new Promise<AgentEnd>((resolve) => (end = resolve));
  let settled = false;
  const finish = (value: AgentEnd) => {
    if (settled) return;
    settled = true;
    failReady(new Error(`the agent did not start: ${value.kind === 'lost' ? value.detail : value.kind}`));
    end(value);
  };

  // What the agent itself wrote on its stderr (nothing, unless it is not our agent or it
  // failed before it could frame): kept for the report of a lost session.
  const agentStderr = cappedCollector(4096);
  const frames = agentFrameReader((frame) => {
    switch (frame.type) {
      case 'ready':
        return markReady();
      case 'stdout':
        return void stdout.sink.write(frame.bytes);
      case 'stderr':
        return void stderr.sink.write(frame.bytes);
      case 'exit':
        return finish({ kind: 'exited', status: frame.status, signal: frame.signal });
      case 'execFailed':
        return finish({ kind: 'execFailed', message: frame.message });
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
  });

  let went = false;
  return {
    ready,
    go(stdin) {
      if (went) throw new Error('go() was already called');
      went = true;
      stream.write(GO_HEADER);
      stream.end(Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength));
    },
    ended,
    streamEnded,
    stdout,
    stderr,
    close: () => stream.destroy(),
  };
}
