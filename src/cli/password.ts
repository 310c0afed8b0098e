import { CliError } from './cli-error.ts';
import { UsageError } from './usage-error.ts';

/**
 * The password for register and login: `--password` when given (visible in `ps` and the shell's
 * history, so for throw-away accounts), else a silent prompt at a terminal, else the first line
 * of stdin, so a script can pipe it: `faasbox login --email … < password-file`. No environment
 * variable: it would be inherited by every child process and shows up in /proc/<pid>/environ.
 */
export async function obtainPassword(given: string | undefined, options: { confirm: boolean }): Promise<string> {
  if (given !== undefined) return given;
  if (!process.stdin.isTTY) {
    const line = await readFirstLine(process.stdin);
    if (line === '') throw new UsageError('no password: pipe it on stdin, give --password, or run at a terminal to be asked');
    return line;
  }
  const password = await prompt('Password: ');
  if (password === '') throw new UsageError('the password is empty');
  if (options.confirm && (await prompt('Repeat the password: ')) !== password) {
    throw new UsageError('the passwords differ');
  }
  return password;
}

/** A line typed at the terminal, not echoed. */
export async function prompt(text: string): Promise<string> {
  const { read } = await import('read');
  try {
    // The prompt goes to stderr, so `--json` output on stdout stays clean.
    return await read({ prompt: text, silent: true, replace: '*', output: process.stderr });
  } catch (error) {
    if (error instanceof Error && error.message === 'canceled') throw new CliError('cancelled', 'cancelled', 130);
    throw error;
  }
}

/** Up to the first newline (a trailing CR too); the rest of stdin is left unread. */
async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    const newline = bytes.indexOf(0x0a);
    if (newline >= 0) {
      chunks.push(bytes.subarray(0, newline));
      break;
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}
