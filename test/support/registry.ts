/**
 * A real image registry for integration tests: Debian's `docker-registry` (distribution 2.x),
 * plain HTTP on loopback, a free port, a throw-away storage directory. The Docker engine allows
 * plain HTTP to 127.0.0.0/8 without any daemon configuration (`docker info` lists it under
 * "Insecure Registries"), so nothing on the machine has to change.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Registry = {
  /** host:port, the prefix of the image references it serves, e.g. `127.0.0.1:41234`. */
  address: string;
  /** Kills the registry and removes its storage. */
  stop(): Promise<void>;
};

const host = '127.0.0.1';
const startTimeoutMs = 10_000;

// A failed assertion skips `stop`: kill what is still running when the test process ends.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-registry-'));
  const configFile = join(dir, 'config.yml');
  const port = await freePort();
  const address = `${host}:${port}`;
  writeFileSync(
    configFile,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${address}`,
      '',
    ].join('\n'),
  );

  const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const output: string[] = [];
  const collect = (chunk: Buffer) => output.push(chunk.toString('utf8'));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let failure: Error | null = null;
  child.once('error', (error) => (failure = error));
  child.once('exit', (code, signal) => {
    running.delete(child);
    failure ??= new Error(`docker-registry exited (${signal ?? code})`);
  });

  const stop = async () => {
    await killChild(child);
    rmSync(dir, { recursive: true, force: true });
  };

  const giveUpAt = Date.now() + startTimeoutMs;
  while (!(await answersV2(address))) {
    const reason = failure ?? (Date.now() > giveUpAt ? new Error('docker-registry did not answer /v2/ in time') : null);
    if (reason) {
      await stop();
      throw new Error(`${reason.message} (docker-registry serve on ${address}):\n${output.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { address, stop };
}

async function answersV2(address: string): Promise<boolean> {
  const response = await fetch(`http://${address}/v2/`).catch(() => null);
  return response?.status === 200;
}

async function killChild(child: ChildProcess): Promise<void> {
  // No pid: it never started (spawn error), so no exit will come.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
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
