/**
 * A real nats-server with JetStream for contract and integration tests: loopback only, a free
 * port, a throw-away store directory.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK, acceptsOnLoopback, freePort, killChild, startServiceProcess } from './service-process.ts';

export type NatsServer = {
  url: string;
  /** Kills the server and removes its store. */
  stop(): Promise<void>;
  /**
   * Kills the server (SIGKILL, as a crash would) and starts it again on the same port and store:
   * what JetStream had stored must survive, and clients must reconnect.
   */
  restart(): Promise<void>;
};

/** `auth`: the server then requires this user and password of every client. */
export async function startNatsServer(options: { auth?: { user: string; pass: string } } = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-nats-'));
  const storeDir = join(dir, 'store');
  const configFile = join(dir, 'nats.conf');
  // Statuses carry stdout and stderr of up to 1 MiB each: the default 1 MB max_payload is too
  // small. Deployments need the same setting.
  writeFileSync(
    configFile,
    `max_payload: 8MB\n${options.auth ? `authorization: { user: ${JSON.stringify(options.auth.user)}, password: ${JSON.stringify(options.auth.pass)} }\n` : ''}`,
  );
  const port = await freePort();
  let child: ChildProcess | null = null;

  const start = async () => {
    const args = ['-js', '-a', LOOPBACK, '-p', String(port), '-sd', storeDir, '-c', configFile];
    child = await startServiceProcess('nats-server', args, () => acceptsOnLoopback(port));
  };
  const kill = async () => {
    const current = child;
    child = null;
    if (current) await killChild(current);
  };

  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `nats://${LOOPBACK}:${port}`,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await kill();
      await start();
    },
  };
}
