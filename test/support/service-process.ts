/**
 * Real servers the suites start for themselves (nats-server, docker-registry): loopback only,
 * a free port, killed when the test process ends even if a failed assertion skipped `stop`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect as connectTcp, createServer } from 'node:net';

export const LOOPBACK = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Spawns `command` and resolves once `isReady` says so; fails with the server's own output. */
export async function startServiceProcess(
  command: string,
  args: string[],
  isReady: () => Promise<boolean>,
): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const output: string[] = [];
  const collect = (chunk: Buffer) => output.push(chunk.toString('utf8'));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let failure: Error | null = null;
  child.once('error', (error) => (failure = error));
  child.once('exit', (code, signal) => {
    running.delete(child);
    failure ??= new Error(`${command} exited (${signal ?? code})`);
  });

  const giveUpAt = Date.now() + START_TIMEOUT_MS;
  while (!(await isReady())) {
    const reason = failure ?? (Date.now() > giveUpAt ? new Error(`${command} did not become ready in time`) : null);
    if (reason) {
      await killChild(child);
      throw new Error(`${reason.message} (${command} ${args.join(' ')}):\n${output.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return child;
}

export async function killChild(child: ChildProcess): Promise<void> {
  // No pid: it never started (spawn error), so no exit will come.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether something accepts TCP connections on this loopback port: a service's readiness check. */
export function acceptsOnLoopback(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
