import { ApiError, UnreachableError } from './api-client.ts';
import { CliError } from './cli-error.ts';
import type { Login } from './credentials.ts';
import { UsageError } from './usage-error.ts';
import { errorMessage } from '../lib/error-message.ts';

/**
 * Every way a client command can fail, said once, here: one line a person can act on (what
 * went wrong and what to run next), the exit status, and the same as an object for `--json`.
 * No stack trace ever reaches the user.
 */
export type Failure = {
  message: string;
  exitCode: number;
  /** Printed on stderr with `--json`: the server's problem+json, or one of ours in that shape. */
  problem: Record<string, unknown>;
};

export type FailureContext = {
  /** The server, when it was known before the failure. */
  url?: string;
  /** How the URL was chosen: a `--url` must be repeated to log in to the same server. */
  urlFromFlag?: boolean;
  /** The stored login for that server, if any: its email goes into "run faasbox login --email …". */
  login?: Login;
  /** The email given on the command line (register, login). */
  email?: string;
  /** What the command was about (an id, a name), for "no such function: <id>". */
  subject?: string;
};

export function describeFailure(error: unknown, context: FailureContext): Failure {
  if (error instanceof ApiError) return apiFailure(error, context);
  if (error instanceof UnreachableError) {
    const timeout = error.reason === 'UND_ERR_HEADERS_TIMEOUT' || error.reason === 'UND_ERR_BODY_TIMEOUT';
    const message = timeout
      ? `${error.url} sent no answer in time (${error.reason}); an execution may still be running: see faasbox exec ls <function>`
      : `cannot reach ${error.url}: is faasbox running?${error.reason ? ` (${error.reason})` : ''}`;
    return ours('unreachable', message, 1, { url: error.url, reason: error.reason });
  }
  if (error instanceof CliError) return ours(error.slug, error.message, error.exitCode);
  if (error instanceof UsageError) return ours('usage', error.message, 2);
  return ours('failed', `failed: ${errorMessage(error)}`, 1);
}

/** The command that gets a new token, with what the user typed to reach this server. */
export function loginHint(context: FailureContext): string {
  const email = context.login?.email ?? context.email ?? '<your email>';
  const url = context.urlFromFlag && context.url ? ` --url ${context.url}` : '';
  return `faasbox login --email ${email}${url}`;
}

function apiFailure(error: ApiError, context: FailureContext): Failure {
  const problem = error.problem;
  const detail = problem?.detail ?? `HTTP ${error.status}`;
  const retry = error.retryAfterSeconds;
  const fail = (message: string) => ({
    message,
    exitCode: 1,
    problem: {
      ...(problem ?? { type: 'about:blank', title: `HTTP ${error.status}`, status: error.status, detail: message }),
      ...(retry === null ? {} : { retryAfterSeconds: retry }),
    },
  });
  if (problem === null && error.status < 500) return fail(`unexpected answer from ${context.url ?? 'the server'}: HTTP ${error.status}`);

  switch (error.status) {
    case 400:
      return fail(`invalid request: ${fieldsAsOptions(problem)}`);
    case 401: {
      if (error.slug === 'invalid-credentials') return fail('wrong email or password');
      const login = context.login;
      if (login && Date.parse(login.expiresAt) <= Date.now()) {
        return fail(`your login to ${login.url} expired at ${login.expiresAt}: run ${loginHint(context)}`);
      }
      return fail(`not logged in or the token expired: run ${loginHint(context)}`);
    }
    case 403:
      return fail(`not allowed: ${detail}`);
    case 404:
      return fail(context.subject === undefined ? detail : `${detail}: ${context.subject}`);
    case 409:
      return fail(error.slug === 'email-taken' ? `${detail}: log in with ${loginHint(context)}` : detail);
    case 413:
      return fail(`too large: ${detail}`);
    case 429: {
      const after = `retry after ${retry ?? 1} s`;
      if (error.slug === 'limit-reached') return fail(`limit reached: ${detail}; ${after}`);
      if (error.slug === 'too-many-attempts') return fail(`too many failed logins; ${after}`);
      return fail(`too many requests: ${detail}; ${after}`);
    }
    case 503:
      return fail(`the platform cannot take jobs right now (${detail}); ${retry === null ? 'try again shortly' : `retry after ${retry} s`}`);
    case 504:
      return fail(problem === null ? `timed out: ${context.url ?? 'the server'} gave up waiting (HTTP 504)` : `timed out: ${detail}`);
    default: {
      if (problem === null) return fail(`the server failed: HTTP ${error.status}`);
      const correlation = typeof problem.correlationId === 'string' ? ` (correlation id ${problem.correlationId})` : '';
      return fail(error.status >= 500 ? `the server failed: ${detail}${correlation}` : detail);
    }
  }
}

/** The api names JSON fields; the user typed options. `timeoutMs: Too big…` → `--timeout: Too big…`. */
const OPTION_OF_FIELD: Record<string, string> = {
  email: '--email',
  password: '--password',
  name: '<name>',
  image: '--image',
  timeoutMs: '--timeout',
  memoryMb: '--memory',
  minWarm: '--min-warm',
  reuse: '--reuse',
  command: 'the command after --',
};

function fieldsAsOptions(problem: ApiError['problem']): string {
  const errors = problem?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return problem?.detail ?? 'invalid request';
  return errors.map((error: { field?: unknown; message?: unknown }) => `${optionOf(String(error.field ?? ''))}: ${String(error.message ?? '')}`).join('; ');
}

function optionOf(field: string): string {
  const [head, ...rest] = field.split('.');
  if (head === 'env' && rest.length > 0) return `--env ${rest.join('.')}`;
  if (head === 'command' && rest.length > 0) return `command argument ${Number(rest[0]) + 1}`;
  return OPTION_OF_FIELD[field] ?? field;
}

function ours(slug: string, message: string, exitCode: number, extensions: Record<string, unknown> = {}): Failure {
  const title = slug.charAt(0).toUpperCase() + slug.slice(1).replaceAll('-', ' ');
  return { message, exitCode, problem: { type: `urn:faasbox:cli:${slug}`, title, detail: message, ...extensions } };
}
