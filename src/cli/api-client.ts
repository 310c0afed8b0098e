/**
 * The Faasbox HTTP API (v1) as seen from the command line: one method per route, web-standard
 * fetch only. An answer the route does not promise becomes an `ApiError` (a problem+json body
 * when the server sent one) or, when no answer came at all, an `UnreachableError`.
 */

export type User = { id: string; email: string; createdAt: string };
export type IssuedToken = { token: string; expiresAt: string };

export type FaasFunction = {
  id: string;
  name: string;
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  createdAt: string;
};

export type FunctionInput = {
  name: string;
  image: string;
  command?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
  memoryMb?: number;
};

export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timedOut';

export type Execution = {
  executionId: string;
  functionId: string;
  status: ExecutionStatus;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number | null;
  reason: string | null;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  lateResults: { type: string; at: string }[];
};

export type ExecutionSummary = Pick<
  Execution,
  'executionId' | 'status' | 'exitCode' | 'durationMs' | 'reason' | 'queuedAt' | 'startedAt' | 'finishedAt'
>;

export type QueuedExecution = { executionId: string; status: 'queued' };

/** A synchronous run ends in an outcome (200) or a timeout (504): both carry the execution. */
export type RunOutcome = { timedOut: boolean; execution: Execution };

/** RFC 9457, as the api writes it (`type` is `urn:faasbox:problem:<slug>`). */
export type Problem = { type: string; title: string; status: number; detail: string; [extension: string]: unknown };

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
  async function request(
    method: string,
    path: string,
    expected: readonly number[],
    body?: { json: unknown } | { bytes: Uint8Array },
  ): Promise<{ status: number; data: any }> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let payload: string | Uint8Array | undefined;
    if (body && 'json' in body) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body) {
      headers['content-type'] = 'application/octet-stream';
      payload = body.bytes;
    }

    let response: Response;
    let text: string;
    try {
      response = await fetch(`${baseUrl}${path}`, { method, headers, body: payload });
      text = await response.text();
    } catch (error) {
      throw new UnreachableError(baseUrl, reasonOf(error));
    }
    const data = parseJson(text);
    if (expected.includes(response.status) && data !== undefined) return { status: response.status, data };
    throw new ApiError(response.status, isProblem(data) ? data : null, retryAfterOf(response.headers.get('retry-after')));
  }

  const fn = (id: string) => `/v1/functions/${encodeURIComponent(id)}`;

  return {
    register: async (email: string, password: string): Promise<User> =>
      (await request('POST', '/v1/users', [201], { json: { email, password } })).data,
    login: async (email: string, password: string): Promise<IssuedToken> =>
      (await request('POST', '/v1/tokens', [200], { json: { email, password } })).data,
    me: async (): Promise<User> => (await request('GET', '/v1/users/me', [200])).data,

    createFunction: async (input: FunctionInput): Promise<FaasFunction> =>
      (await request('POST', '/v1/functions', [201], { json: input })).data,
    listFunctions: async (): Promise<FaasFunction[]> => (await request('GET', '/v1/functions', [200])).data.functions,
    getFunction: async (id: string): Promise<FaasFunction> => (await request('GET', fn(id), [200])).data,
    deleteFunction: async (id: string): Promise<void> => {
      await request('DELETE', fn(id), [200]);
    },

    /** Waits for the outcome; the server holds the request until then (the function's timeout plus a grace). */
    run: async (id: string, stdin: Uint8Array): Promise<RunOutcome> => {
      const { status, data } = await request('POST', `${fn(id)}/executions`, [200, 504], { bytes: stdin });
      return { timedOut: status === 504, execution: data };
    },
    enqueue: async (id: string, stdin: Uint8Array): Promise<QueuedExecution> =>
      (await request('POST', `${fn(id)}/executions?wait=false`, [202], { bytes: stdin })).data,
    getExecution: async (id: string): Promise<Execution> =>
      (await request('GET', `/v1/executions/${encodeURIComponent(id)}`, [200])).data,
    listExecutions: async (functionId: string, limit?: number): Promise<ExecutionSummary[]> =>
      (await request('GET', `${fn(functionId)}/executions${limit === undefined ? '' : `?limit=${limit}`}`, [200])).data.executions,
  };
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
