import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type Runtime = 'node' | 'bun' | 'deno';

/**
 * The command line of `npm start` (node), `npm run start:bun` or `npm run start:deno`, read from
 * package.json so the tests run what users run, Deno's permission flags included. The binary is
 * this Node for node, else the one installed from npm in node_modules/.bin.
 */
export function entryCommand(runtime: Runtime): { command: string; args: string[] } {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const script = scripts[runtime === 'node' ? 'start' : `start:${runtime}`] ?? '';
  const [binary, ...args] = script.split(' ');
  if (binary !== runtime) throw new Error(`package.json: the start script for ${runtime} should begin with ${runtime}: ${script}`);
  return { command: runtime === 'node' ? process.execPath : join(root, 'node_modules', '.bin', runtime), args };
}

export type ServerProcess = {
  url: string;
  dataDir: string;
  /** Every line the server printed, for assertions on its logs. */
  output: string[];
  child: ChildProcess;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to flush or close anything. */
  kill(): Promise<void>;
};

export const tempDir = (prefix = 'faasbox-test-') => mkdtempSync(join(tmpdir(), prefix));

/**
 * Starts the real platform (`src/entry/node.ts`, or the Bun or Deno entry) on a free port and
 * waits until it is ready. `role` worker has no HTTP side: it is ready once it logs that it started.
 */
export async function startServer(
  options: { dataDir?: string; env?: Record<string, string>; role?: 'all' | 'api' | 'worker'; runtime?: Runtime } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? tempDir();
  const role = options.role ?? 'all';
  const { command, args } = entryCommand(options.runtime ?? 'node');
  const child = spawn(command, [...args, role], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      FAASBOX_DATA_DIR: dataDir,
      ...(process.env.FAASBOX_EVENTSTORE_URL ? { FAASBOX_EVENTSTORE_URL: process.env.FAASBOX_EVENTSTORE_URL } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output.join('\n')}`)), 20_000);
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        const match = role === 'worker' ? /"message":"worker started"/.exec(line) : /"url":"(http:\/\/[^"]+)"/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] ?? '');
        }
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output.join('\n')}`));
    });
  });
  if (role !== 'worker') await waitUntilReady(url);

  return {
    url,
    dataDir,
    output,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function waitUntilReady(url: string) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const response = await fetch(`${url}/readyz`).catch(() => null);
    if (response?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('server never became ready');
}
