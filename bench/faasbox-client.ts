/**
 * What a benchmark does over Faasbox's HTTP API: sign up, create a function, execute it and
 * wait, or submit it and read it back. Fetch keeps its connections alive between calls, as any
 * client that executes more than once would.
 */

export type Execution = {
  executionId: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'timedOut';
  reason: string | null;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
};

export type FaasboxClient = {
  createFunction(spec: { name: string; image: string; command: string[]; timeoutMs?: number; reuse?: boolean }): Promise<string>;
  /** One synchronous execution; throws unless it succeeded. `correlationId` finds its log lines. */
  execute(functionId: string, correlationId?: string): Promise<{ ms: number; execution: Execution }>;
  /** `?wait=false`: resolves with the execution id once it is queued. */
  submit(functionId: string): Promise<string>;
  execution(executionId: string): Promise<Execution>;
};

export async function signUp(url: string, email = `bench-${crypto.randomUUID()}@example.com`): Promise<FaasboxClient> {
  const credentials = { email, password: 'correct horse battery staple' };
  await call(url, 'POST', '/v1/users', { json: credentials });
  const { token } = (await call(url, 'POST', '/v1/tokens', { json: credentials })) as { token: string };
  const authorized = { authorization: `Bearer ${token}` };
  return {
    async createFunction(spec) {
      const created = (await call(url, 'POST', '/v1/functions', { json: spec, headers: authorized })) as { id: string };
      return created.id;
    },
    async execute(functionId, correlationId) {
      const started = performance.now();
      const execution = (await call(url, 'POST', `/v1/functions/${functionId}/executions`, {
        headers: { ...authorized, ...(correlationId ? { 'x-request-id': correlationId } : {}) },
      })) as Execution;
      const ms = performance.now() - started;
      if (execution.status !== 'succeeded') throw new Error(`execution ${execution.executionId} ${execution.status}: ${execution.reason}`);
      return { ms, execution };
    },
    async submit(functionId) {
      const queued = (await call(url, 'POST', `/v1/functions/${functionId}/executions?wait=false`, { headers: authorized })) as Execution;
      return queued.executionId;
    },
    async execution(executionId) {
      return (await call(url, 'GET', `/v1/executions/${executionId}`, { headers: authorized })) as Execution;
    },
  };
}

async function call(
  url: string,
  method: string,
  path: string,
  { json, headers = {} }: { json?: unknown; headers?: Record<string, string> },
): Promise<unknown> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}
