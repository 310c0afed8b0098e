import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type CliRun = { status: number | null; stdout: string; stderr: string };

/**
 * `faasbox …args` as a user runs it (`node bin/faasbox.mjs`), with `input` piped to stdin and
 * only the environment given (a config home of its own, the server's URL): exit status and output.
 */
export function runFaasboxCli(args: string[], options: { env: Record<string, string>; input?: string | Uint8Array }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/faasbox.mjs', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    // A CLI that gave up early closes its stdin: the rest of a large input has nowhere to go.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}
