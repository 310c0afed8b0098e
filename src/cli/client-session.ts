import type { Command } from 'commander';
import { type ApiClient, createApiClient } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { CredentialsFileError, type Login, credentialsPath, currentUrl, loginFor } from './credentials.ts';
import { type FailureContext, describeFailure, loginHint } from './failures.ts';
import { UsageError } from './usage-error.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export type ClientOptions = { url?: string; json?: boolean };

/** What every client command works with: which server, as whom, and how to print. */
export type Session = {
  url: string;
  json: boolean;
  credentialsPath: string;
  /** The stored login for `url`, if any. */
  login: Login | undefined;
  /** Said in an error message (e.g. the id of "no such function: <id>"). */
  context: FailureContext;
  /** A client with the stored token; not logged in to this server is an error naming the fix. */
  api(): ApiClient;
  /** A client without a token: registration and login. */
  anonymousApi(): ApiClient;
};

/** `--url` and `--json`, on every client command (not on the program: `audit --json` is its own). */
export function withClientOptions(command: Command): Command {
  return command
    .option('--url <url>', `the Faasbox server (default: $FAASBOX_URL, else the server of the last login, else ${DEFAULT_URL})`)
    .option('--json', 'machine-readable output on stdout; errors as JSON on stderr');
}

/**
 * Runs one client command: opens the session, and turns any failure into one line on stderr (or
 * a JSON problem with `--json`) and an exit status. `work` may return the exit status, as
 * `fn invoke` does with the function's.
 */
export async function runClient(options: ClientOptions, work: (session: Session) => Promise<number | void>): Promise<void> {
  let context: FailureContext = {};
  try {
    const session = openSession(options, process.env);
    context = session.context;
    const exitCode = await work(session);
    if (exitCode !== undefined) process.exitCode = exitCode;
  } catch (error) {
    const failure = describeFailure(error, context);
    process.stderr.write(options.json ? `${JSON.stringify(failure.problem)}\n` : `faasbox: ${failure.message}\n`);
    process.exitCode = failure.exitCode;
  }
}

/** `--url` > FAASBOX_URL > the server of the last login > the default. */
export function openSession(options: ClientOptions, env: NodeJS.ProcessEnv): Session {
  const path = credentialsPath(env);
  const url =
    options.url !== undefined
      ? normalizeUrl(options.url, '--url')
      : env.FAASBOX_URL
        ? normalizeUrl(env.FAASBOX_URL, 'FAASBOX_URL')
        : (storedCurrentUrl(path) ?? DEFAULT_URL);
  const login = storedLogin(path, url);
  const known = login instanceof CredentialsFileError ? undefined : login;
  const context: FailureContext = { url, urlFromFlag: options.url !== undefined, login: known };
  return {
    url,
    json: options.json === true,
    credentialsPath: path,
    login: known,
    context,
    api: () => {
      if (login instanceof CredentialsFileError) throw login;
      if (login === undefined) throw new CliError(`not logged in to ${url}: run ${loginHint(context)}`, 'not-logged-in');
      return createApiClient(url, login.token);
    },
    anonymousApi: () => createApiClient(url),
  };
}

/** A damaged file is reported when a token is needed, not before: login and logout mend it. */
function storedLogin(path: string, url: string): Login | CredentialsFileError | undefined {
  try {
    return loginFor(path, url);
  } catch (error) {
    if (error instanceof CredentialsFileError) return error;
    throw error;
  }
}

function storedCurrentUrl(path: string): string | null {
  try {
    return currentUrl(path);
  } catch (error) {
    if (error instanceof CredentialsFileError) return null;
    throw error;
  }
}

/** One spelling per server, so a login is found again: no trailing slash, no query. */
export function normalizeUrl(raw: string, from: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${from} is not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${from} must be an http or https URL: ${raw}`);
  if (url.username || url.password || url.search || url.hash) throw new UsageError(`${from} must have no credentials, query or fragment: ${raw}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
