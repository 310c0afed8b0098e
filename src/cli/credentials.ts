import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { CliError } from './cli-error.ts';

/** One server's login. The token is a bearer credential: whoever reads it is the user until `expiresAt`. */
export type Login = { url: string; email: string; token: string; expiresAt: string };

/**
 * The file holds a login per server, so a token is only ever sent to the server that issued it,
 * and `current` (the server of the latest login) is where commands go when no URL is given.
 */
type CredentialsFile = { version: 1; current: string | null; logins: Record<string, Login> };

/**
 * `$XDG_CONFIG_HOME/faasbox/credentials.json`, else `~/.config/faasbox/credentials.json`. The XDG
 * base directory spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
 */
export function credentialsPath(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'faasbox', 'credentials.json');
}

export function readCredentials(path: string): CredentialsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, current: null, logins: {} };
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, 'credentials-unreadable');
  }
  const parsed = parse(text);
  if (parsed === null) throw new CredentialsFileError(path);
  return parsed;
}

/** A damaged file says so and how to mend it; only a login or a logout replaces it. */
export class CredentialsFileError extends CliError {
  constructor(readonly path: string) {
    super(`${path} is damaged: log in again (faasbox login --email …) or remove it (faasbox logout)`, 'credentials-damaged');
  }
}

export function loginFor(path: string, url: string): Login | undefined {
  return readCredentials(path).logins[url];
}

export function currentUrl(path: string): string | null {
  return readCredentials(path).current;
}

/** Stores the login for its server and makes that server the current one. */
export function saveLogin(path: string, login: Login): void {
  const file = readCredentialsForUpdate(path);
  file.logins[login.url] = login;
  file.current = login.url;
  writePrivately(path, `${JSON.stringify(file, null, 2)}\n`);
}

/** Forgets the login for `url`; the file goes when no login is left. Returns the removed login. */
export function removeLogin(path: string, url: string): Login | undefined {
  const file = readCredentialsForUpdate(path);
  const removed = file.logins[url];
  delete file.logins[url];
  if (file.current === url) file.current = null;
  if (Object.keys(file.logins).length === 0) rmSync(path, { force: true });
  else if (removed !== undefined) writePrivately(path, `${JSON.stringify(file, null, 2)}\n`);
  return removed;
}

/** A damaged file is replaced by an update: the user is logging in (or out) to mend it. */
function readCredentialsForUpdate(path: string): CredentialsFile {
  try {
    return readCredentials(path);
  } catch (error) {
    if (error instanceof CredentialsFileError) return { version: 1, current: null, logins: {} };
    throw error;
  }
}

/**
 * The directory is 0700 and the file is created 0600 (`wx`: a new inode, never one an attacker
 * prepared) before a byte is written, then renamed over the old one: a reader sees the old file
 * or the new, whole, and the token is never readable by others, not even for a moment.
 */
function writePrivately(path: string, content: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const temp = join(dir, `.credentials.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(temp, { force: true });
    throw error;
  }
}

function parse(text: string): CredentialsFile | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  const { current, logins } = data as Record<string, unknown>;
  if ((current !== null && typeof current !== 'string') || typeof logins !== 'object' || logins === null) return null;
  const valid: Record<string, Login> = {};
  for (const [url, login] of Object.entries(logins)) {
    const { email, token, expiresAt } = (login ?? {}) as Record<string, unknown>;
    if (typeof email !== 'string' || typeof token !== 'string' || typeof expiresAt !== 'string') return null;
    valid[url] = { url, email, token, expiresAt };
  }
  return { version: 1, current: current as string | null, logins: valid };
}
