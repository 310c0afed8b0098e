/**
 * A real nats-server with JetStream for contract and integration tests: loopback only, a free
 * port, a throw-away store directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

const host = '127.0.0.1';
const startTimeoutMs = 10_000;

// Children still running when the test process ends (a failed assertion skips `stop`) would
// hold ports and temp dirs; kill them on the way out.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startNatsServer(): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-nats-'));
  const storeDir = join(dir, 'store');
  const configFile = join(dir, 'nats.conf');
  // Statuses carry stdout and stderr of up to 1 MiB each: the default 1 MB max_payload is too
  // small. Deployments need the same setting.
  writeFileSync(configFile, 'max_payload: 8MB\n');
  const port = await freePort();
  let child: ChildProcess | null = null;

  const start = async () => {
    child = await spawnServer(['-js', '-a', host, '-p', String(port), '-sd', storeDir, '-c', configFile]);
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
    url: `nats://${host}:${port}`,
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

async function spawnServer(args: string[]): Promise<ChildProcess> {
  const child = spawn('nats-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const output: string[] = [];
  const collect = (chunk: Buffer) => output.push(chunk.toString('utf8'));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited = false;
  let spawnError: Error | null = null;
  child.once('error', (error) => (spawnError = error));
  child.once('exit', () => {
    exited = true;
    running.delete(child);
  });

  const port = Number(args[args.indexOf('-p') + 1]);
  const giveUpAt = Date.now() + startTimeoutMs;
  while (!(await accepts(port))) {
    const failure = spawnError ?? (exited ? new Error('nats-server exited') : Date.now() > giveUpAt ? new Error('nats-server did not start in time') : null);
    if (failure) {
      await killChild(child);
      throw new Error(`${failure.message} (nats-server ${args.join(' ')}):\n${output.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return child;
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
