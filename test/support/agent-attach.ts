import { type Duplex, Writable } from 'node:stream';
import type Docker from 'dockerode';
import { demuxOutput } from '../../worker/docker/output.ts';

/**
 * Attaches to a created agent container as the worker does: its stdout (the agent's frames) to
 * `frames`, what the agent itself wrote on its stderr kept apart. Call before the start.
 */
export async function attachToAgent(container: Docker.Container, frames: (chunk: Buffer) => void) {
  let agentStderr = '';
  const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
  stream.on('error', () => {});
  const sink = (write: (chunk: Buffer) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        write(chunk);
        done();
      },
    });
  demuxOutput(stream, sink(frames), sink((chunk) => (agentStderr += chunk.toString('utf8'))));
  return { stream, agentStderr: () => agentStderr };
}
