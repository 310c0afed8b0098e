import * as assert from 'uvu/assert';

export type Reply = { status: number; headers: Headers; body: any };

export type RequestOptions = { token?: string; json?: unknown; body?: string; headers?: Record<string, string> };

/** How a request reaches the api: fetch to a server, or an in-process app's `app.request()`. */
export type Transport = (path: string, init: RequestInit) => Response | Promise<Response>;

/** A thin fetch wrapper for tests: JSON in, parsed body out, headers kept for assertions. */
export const call = (baseUrl: string, method: string, path: string, options: RequestOptions = {}): Promise<Reply> =>
  send((to, init) => fetch(`${baseUrl}${to}`, init), method, path, options);

/** `call` over any transport: the same request and the same parsed reply, with or without a server. */
export async function send(transport: Transport, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await transport(path, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON; keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Every error answer must be RFC 9457 problem+json without internals. */
export function assertProblem(reply: Reply, status: number) {
  assert.is(reply.status, status, `expected ${status}, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  assert.is(reply.headers.get('content-type'), 'application/problem+json');
  assert.is(reply.body.status, status);
  assert.type(reply.body.type, 'string');
  assert.type(reply.body.title, 'string');
  assert.type(reply.body.detail, 'string');
  assert.not.match(JSON.stringify(reply.body), /\bat .*\.(ts|js):\d+|node_modules|\$2[aby]\$/);
}

let counter = 0;
export const uniqueEmail = (tag = 'user') => `${tag}-${process.pid}-${Date.now()}-${counter++}@example.com`;
