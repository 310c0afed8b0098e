/**
 * The Faasbox HTTP API (v1) as seen from the command line: one method per route, over
 * openapi-fetch with the types generated from the api's own document (api-types.gen.ts), so that
 * a route the command line no longer matches fails the typecheck. An answer the route does not
 * promise becomes an `ApiError` (a problem+json body when the server sent one) or, when no answer
 * came at all, an `UnreachableError`.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from './api-types.gen.ts';

export type FaasFunction = components['schemas']['Function'];
export type Execution = components['schemas']['Execution'];
type FunctionInput = components['schemas']['FunctionInput'];
type FunctionChanges = components['schemas']['FunctionChanges'];
/** RFC 9457, as the api writes it (`type` is `urn:faasbox:problem:<slug>`). */
type Problem = components['schemas']['Problem'];

/** A synchronous run ends in an outcome (200) or a timeout (504): both carry the execution. */
type RunOutcome = { timedOut: boolean; execution: Execution };

/** The server answered, but not with what the route promises. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    /** The problem+json body; null when the answer was something else (a proxy's HTML page). */
    readonly problem: Problem | null,
    /** From the Retry-After header of a 429 or 503, in seconds. */
    readonly retryAfterSeconds: number | null,
  ) {
    super(problem?.detail ?? `HTTP ${status}`);
  }

  /** `email-taken` for `urn:faasbox:problem:email-taken`. */
  get slug(): string | null {
    const type = this.problem?.type;
    return typeof type === 'string' && type.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : null;
  }
}

/** No answer at all: refused, unknown host, reset, no headers in time. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    readonly url: string,
    /** The system's code (ECONNREFUSED, ENOTFOUND, UND_ERR_HEADERS_TIMEOUT…), else a message. */
    readonly reason: string | null,
  ) {
    super(`cannot reach ${url}${reason ? ` (${reason})` : ''}`);
  }
}

const PROBLEM_PREFIX = 'urn:faasbox:problem:';

export type ApiClient = ReturnType<typeof createApiClient>;

/** `baseUrl` has no trailing slash; `token` is needed by every route but registration and login. */
export function createApiClient(baseUrl: string, token?: string) {
  const client = createClient<paths>({
    baseUrl,
    headers: {
      accept: 'application/json, application/problem+json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    fetch: (request) => fetchWhole(baseUrl, request),
  });
  const byId = (id: string) => ({ path: { id } });
  // The body of an execution is the container's stdin, byte for byte: not JSON-encoded.
  const stdinBody = (stdin: Uint8Array) => ({
    body: stdin,
    bodySerializer: (bytes: unknown) => bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });

  return {
    register: async (email: string, password: string) => promised(await client.POST('/v1/users', { body: { email, password } }), 201),
    login: async (email: string, password: string) => promised(await client.POST('/v1/tokens', { body: { email, password } }), 200),
    me: async () => promised(await client.GET('/v1/users/me'), 200),

    createFunction: async (input: FunctionInput) => promised(await client.POST('/v1/functions', { body: input }), 201),
    listFunctions: async () => promised(await client.GET('/v1/functions'), 200).functions,
    getFunction: async (id: string) => promised(await client.GET('/v1/functions/{id}', { params: byId(id) }), 200),
    /** With `ifVersion`, only if it is still the current version (If-Match). */
    updateFunction: async (id: string, changes: FunctionChanges, ifVersion?: number) =>
      promised(await client.PATCH('/v1/functions/{id}', { params: { ...byId(id), header: ifMatch(ifVersion) }, body: changes }), 200),
    listFunctionVersions: async (id: string) => promised(await client.GET('/v1/functions/{id}/versions', { params: byId(id) }), 200),
    rollbackFunction: async (id: string, version: number) =>
      promised(await client.POST('/v1/functions/{id}/rollback', { params: { ...byId(id), header: {} }, body: { version } }), 200),
    deleteFunction: async (id: string): Promise<void> => {
      promised(await client.DELETE('/v1/functions/{id}', { params: byId(id) }), 200);
    },

    /** Waits for the outcome; the server holds the request until then (the function's timeout plus a grace). */
    run: async (id: string, stdin: Uint8Array, idempotencyKey?: string): Promise<RunOutcome> => {
      const params = { ...byId(id), header: keyHeader(idempotencyKey) };
      const answer = await client.POST('/v1/functions/{id}/executions', { params, ...stdinBody(stdin) });
      const timedOut = answer.response.status === 504;
      // openapi-fetch types the route's success bodies as one union (the outcome; for ?wait=false,
      // the queued execution) and its error bodies as another (problems; for 504, the execution):
      // the execution is the body that holds output.
      const body = timedOut ? answer.error : promised(answer, 200);
      if (typeof body === 'object' && body !== null && 'stdout' in body) return { timedOut, execution: body };
      throw apiError(answer);
    },
    /** Queues a run (its record POSTed to `callback` once it ended); with a key used before, the execution that key started, as it is now. */
    enqueue: async (id: string, stdin: Uint8Array, idempotencyKey?: string, callback?: string): Promise<{ executionId: string; status: string }> => {
      const params = { ...byId(id), query: { wait: 'false' as const, ...(callback === undefined ? {} : { callback }) }, header: keyHeader(idempotencyKey) };
      const answer = await client.POST('/v1/functions/{id}/executions', { params, ...stdinBody(stdin) });
      const { executionId, status } = promised(answer, answer.response.status === 200 ? 200 : 202);
      return { executionId, status };
    },
    getExecution: async (id: string) => promised(await client.GET('/v1/executions/{id}', { params: byId(id) }), 200),
    listDeadLetters: async () => promised(await client.GET('/v1/dead-letters'), 200).deadLetters,
    listWorkers: async () => promised(await client.GET('/v1/admin/workers'), 200).workers,
    redriveDeadLetter: async (id: string) => promised(await client.POST('/v1/dead-letters/{id}/redrive', { params: byId(id) }), 202),
    redriveAllDeadLetters: async () => promised(await client.POST('/v1/dead-letters/redrive'), 200),
    deleteDeadLetter: async (id: string): Promise<void> => {
      promised(await client.DELETE('/v1/dead-letters/{id}', { params: byId(id) }), 200);
    },
    setSecret: async (name: string, value: string) => {
      const answer = await client.PUT('/v1/secrets/{name}', { params: { path: { name } }, body: { value } });
      const created = answer.response.status === 201;
      return { secret: promised(answer, created ? 201 : 200), created };
    },
    listSecrets: async () => promised(await client.GET('/v1/secrets'), 200).secrets,
    deleteSecret: async (name: string): Promise<void> => {
      promised(await client.DELETE('/v1/secrets/{name}', { params: { path: { name } } }), 200);
    },
    listExecutions: async (functionId: string, limit?: number) => {
      const params = { ...byId(functionId), query: { limit } };
      return promised(await client.GET('/v1/functions/{id}/executions', { params }), 200).executions;
    },
  };
}

const ifMatch = (version: number | undefined) => (version === undefined ? {} : { 'if-match': `"${version}"` });

const keyHeader = (idempotencyKey: string | undefined) => (idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey });

type Answer<Data> = { data?: Data; error?: unknown; response: Response };

/** The body of an answer with the status the route promises for it, else the ApiError it is. */
function promised<Data>(answer: Answer<Data>, status: number): NonNullable<Data> {
  const { data } = answer;
  if (answer.response.status === status && typeof data === 'object' && data !== null) return data;
  throw apiError(answer);
}

function apiError({ data, error, response }: Answer<unknown>): ApiError {
  const body = data ?? error;
  return new ApiError(response.status, isProblem(body) ? body : null, retryAfterOf(response.headers.get('retry-after')));
}

/**
 * openapi-fetch's fetch, which reads the whole body before handing the answer over: a transport
 * failure, before the headers or in the body, is then an UnreachableError, and a success that is
 * no JSON (a proxy's page) an ApiError rather than openapi-fetch's bare SyntaxError.
 */
async function fetchWhole(baseUrl: string, request: Request): Promise<Response> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(request);
    // A clone, read to the end, leaves the answer itself whole for openapi-fetch to parse.
    text = await response.clone().text();
  } catch (error) {
    throw new UnreachableError(baseUrl, reasonOf(error));
  }
  if (response.ok && parseJson(text) === undefined) {
    throw new ApiError(response.status, null, retryAfterOf(response.headers.get('retry-after')));
  }
  return response;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isProblem(data: unknown): data is Problem {
  if (typeof data !== 'object' || data === null) return false;
  const { type, status, detail } = data as Record<string, unknown>;
  return typeof type === 'string' && typeof status === 'number' && typeof detail === 'string';
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterOf(header: string | null): number | null {
  if (header === null) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * Node's fetch fails with `TypeError: fetch failed`; why is further down its `cause` chain: a
 * system code (ECONNREFUSED, ENOTFOUND, UND_ERR_HEADERS_TIMEOUT…) or a message ("bad port").
 */
function reasonOf(error: unknown): string | null {
  let message: string | null = null;
  for (let cause: unknown = error; cause !== undefined && cause !== null; cause = (cause as { cause?: unknown }).cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    // An AggregateError (every address of a host refused) carries its causes in `errors`.
    const first = (cause as { errors?: unknown[] }).errors?.[0];
    if (first !== undefined) return reasonOf(first);
    if (cause !== error && cause instanceof Error) message = cause.message;
  }
  return message;
}
