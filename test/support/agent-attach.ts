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

/**
 * An agent container locked down as the worker's are (no network, read-only root, no
 * capabilities, user 65534, limits), the agent bind-mounted read-only at /.faasbox/agent.
 */
export function agentContainerOptions(settings: {
  image: string;
  cmd: string[];
  labels: Record<string, string>;
  agentBinary: string;
  pidsLimit?: number;
  mounts?: Docker.MountSettings[];
  /** The container's config's own variables, `NAME=value`: what a function's `env` becomes. */
  env?: string[];
}): Docker.ContainerCreateOptions {
  return {
    Image: settings.image,
    Entrypoint: ['/.faasbox/agent'],
    Cmd: settings.cmd,
    ...(settings.env ? { Env: settings.env } : {}),
    User: '65534:65534',
    Labels: settings.labels,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    HostConfig: {
      Init: false,
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: settings.pidsLimit ?? 64,
      Memory: 64 * 1024 * 1024,
      MemorySwap: 64 * 1024 * 1024,
      Mounts: [{ Type: 'bind', Source: settings.agentBinary, Target: '/.faasbox/agent', ReadOnly: true }, ...(settings.mounts ?? [])],
      LogConfig: { Type: 'none', Config: {} },
    },
  };
}
