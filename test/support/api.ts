/**
 * A user's way in, for every suite that needs one: sign up, log in, create a function. The same
 * calls reach a server by its base URL (the e2e, int and reliability suites) or an app in
 * process by its request function (the app suites, test/support/in-process-app.ts).
 */
import * as assert from 'uvu/assert';
import { type Reply, type RequestOptions, call, uniqueEmail } from './http-client.ts';

/** Sends one request to the api, as `call` does without its base URL. */
export type Requester = (method: string, path: string, options?: RequestOptions) => Promise<Reply>;

/** A server's base URL (`http://127.0.0.1:8080`), or the requester of an app in process. */
export type ApiTarget = string | Requester;

export const requesterOf = (target: ApiTarget): Requester =>
  typeof target === 'string' ? (method, path, options) => call(target, method, path, options) : target;

export const DEFAULT_PASSWORD = 'correct horse battery';

export type SignedUp = {
  id: string;
  email: string;
  password: string;
  token: string;
  /** The answer to the registration, as the api gave it. */
  registered: { id: string; email: string; createdAt: string };
};

/**
 * Registers a user (201) and logs it in (200). `email` defaults to a new one named by `tag`;
 * `password` to DEFAULT_PASSWORD.
 */
export async function signUp(target: ApiTarget, options: { email?: string; password?: string; tag?: string } = {}): Promise<SignedUp> {
  const { email = uniqueEmail(options.tag), password = DEFAULT_PASSWORD } = options;
  const registered = await requesterOf(target)('POST', '/v1/users', { json: { email, password } });
  assert.is(registered.status, 201, `POST /v1/users ${email}: ${JSON.stringify(registered.body)}`);
  const token = await logIn(target, email, password);
  return { id: registered.body.id as string, email, password, token, registered: registered.body };
}

/** A token for the user (200). */
export async function logIn(target: ApiTarget, email: string, password: string = DEFAULT_PASSWORD): Promise<string> {
  const login = await requesterOf(target)('POST', '/v1/tokens', { json: { email, password } });
  assert.is(login.status, 200, `POST /v1/tokens ${email}: ${JSON.stringify(login.body)}`);
  return login.body.token as string;
}

export type FunctionInput = {
  name?: string;
  image: string;
  command?: string[];
  env?: Record<string, string>;
  secrets?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
  minWarm?: number;
  reuse?: boolean;
  retry?: { maxAttempts: number; backoff?: { initialMs: number; maxMs: number }; maxAgeSeconds?: number; onFunctionError?: boolean };
};

/** The function as the api answers it, with its defaults filled in. */
export type CreatedFunction = Required<Omit<FunctionInput, 'command' | 'retry'>> & { id: string; command: string[] | null; retry: FunctionInput['retry'] | null; createdAt: string };

/** Creates a function (201); `name` defaults to `fn`. */
export async function createFunction(target: ApiTarget, token: string, input: FunctionInput): Promise<CreatedFunction> {
  const created = await requesterOf(target)('POST', '/v1/functions', { token, json: { name: 'fn', ...input } });
  assert.is(created.status, 201, `POST /v1/functions: ${JSON.stringify(created.body)}`);
  return created.body as CreatedFunction;
}
