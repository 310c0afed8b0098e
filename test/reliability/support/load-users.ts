/**
 * Simulated users for the load suite: each loops register → token → create function → execute
 * (waiting for the outcome) → list history, against several apis in turn, until a deadline.
 * Every answer is checked; what is not the expected success, nor a 429 that is retried after its
 * Retry-After, is a failure kept for the test to list.
 *
 * No operation starts after the deadline; the ones under way get a drain allowance to finish,
 * then are abandoned (the run must end within the suite's budget). An abandoned request is not
 * an error unless it outlived a bound the platform itself promises: a waiting execution is
 * answered by its function's timeout plus the grace (504 at worst), however loaded the machine.
 */

export const OPERATIONS = ['register', 'token', 'createFunction', 'execute', 'history'] as const;
export type Operation = (typeof OPERATIONS)[number];

export type LoadFailure = { operation: Operation; api: string; status: number | null; detail: string };

export type LoadTally = {
  /** Milliseconds of each answered operation, 429 attempts excluded. */
  latencies: Record<Operation, number[]>;
  /** 429 answers, each followed by a retry of the same request. */
  throttled: Record<Operation, number>;
  /** Requests still unanswered when the drain allowance ran out, abandoned within their bound. */
  abandoned: Record<Operation, number>;
  failures: LoadFailure[];
  iterations: number;
  requests: number;
};

export type LoadPlan = {
  apis: string[];
  users: number;
  /** Epoch ms: no operation starts after it. */
  until: number;
  /** After `until`, how long the operations under way may take before they are abandoned. */
  drainMs: number;
  image: string;
  /** The function's timeout; with the grace, the longest a waiting execution may go unanswered. */
  functionTimeoutMs: number;
  graceMs: number;
  /** Distinguishes this run's emails from any other run's on the same store. */
  tag: string;
};

type Answer = { status: number; headers: Headers; body: any; api: string };

const PASSWORD = 'correct horse battery';
/** After a failure a user pauses, so a broken api is not hammered in a tight loop. */
const PAUSE_AFTER_FAILURE_MS = 500;
/** Slack on the platform's promised bound for the client side: connection, parsing, scheduling. */
const ANSWER_SLACK_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const perOperation = <T>(value: () => T) => Object.fromEntries(OPERATIONS.map((op) => [op, value()])) as Record<Operation, T>;

export async function runSimulatedUsers(plan: LoadPlan): Promise<LoadTally> {
  const tally: LoadTally = {
    latencies: perOperation(() => []),
    throttled: perOperation(() => 0),
    abandoned: perOperation(() => 0),
    failures: [],
    iterations: 0,
    requests: 0,
  };
  const abandon = new AbortController();
  const abandonTimer = setTimeout(() => abandon.abort(), Math.max(0, plan.until + plan.drainMs - Date.now()));
  const executeBoundMs = plan.functionTimeoutMs + plan.graceMs + ANSWER_SLACK_MS;
  let turn = 0;
  const request = (operation: Operation, expected: number, method: string, path: string, options: RequestOptions = {}) =>
    answered({ tally, plan, signal: abandon.signal, executeBoundMs }, plan.apis[turn++ % plan.apis.length]!, operation, expected, method, path, options);

  const oneIteration = async (user: number, iteration: number): Promise<void> => {
    const email = `load-${plan.tag}-${user}-${iteration}@example.com`;
    if (!(await request('register', 201, 'POST', '/v1/users', { json: { email, password: PASSWORD } }))) return;
    const login = await request('token', 200, 'POST', '/v1/tokens', { json: { email, password: PASSWORD } });
    if (!login) return;
    const token = login.body.token as string;
    const created = await request('createFunction', 201, 'POST', '/v1/functions', {
      token,
      json: { name: `load-${iteration}`, image: plan.image, command: ['cat'], timeoutMs: plan.functionTimeoutMs },
    });
    if (!created) return;
    const functionId = created.body.id as string;
    const stdin = `hello from ${email}`;
    const executed = await request('execute', 200, 'POST', `/v1/functions/${functionId}/executions`, { token, body: stdin });
    if (!executed) return;
    if (executed.body.status !== 'succeeded' || executed.body.stdout !== stdin) {
      tally.failures.push({ operation: 'execute', api: executed.api, status: 200, detail: `unexpected outcome ${brief(executed.body)}` });
      return;
    }
    const history = await request('history', 200, 'GET', `/v1/functions/${functionId}/executions`, { token });
    if (!history) return;
    if (!Array.isArray(history.body.executions)) {
      tally.failures.push({ operation: 'history', api: history.api, status: 200, detail: `no executions array ${brief(history.body)}` });
      return;
    }
    tally.iterations++;
  };

  const simulate = async (user: number) => {
    for (let iteration = 0; Date.now() < plan.until && !abandon.signal.aborted; iteration++) {
      const failed = tally.failures.length;
      await oneIteration(user, iteration);
      if (tally.failures.length > failed) await sleep(PAUSE_AFTER_FAILURE_MS);
    }
  };
  try {
    await Promise.all(Array.from({ length: plan.users }, (_, user) => simulate(user)));
  } finally {
    clearTimeout(abandonTimer);
  }
  return tally;
}

type RequestOptions = { token?: string; json?: unknown; body?: string };
type Run = { tally: LoadTally; plan: LoadPlan; signal: AbortSignal; executeBoundMs: number };

/**
 * One operation: its answer when it has the expected status; null when it failed (recorded),
 * was abandoned, or the run ended before it could start. A 429 waits its Retry-After and tries again.
 */
async function answered(
  run: Run,
  api: string,
  operation: Operation,
  expected: number,
  method: string,
  path: string,
  options: RequestOptions,
): Promise<Answer | null> {
  const { tally, plan, signal } = run;
  for (;;) {
    if (Date.now() >= plan.until) return null;
    const started = performance.now();
    let reply: Answer;
    tally.requests++;
    try {
      reply = await send(api, method, path, options, signal);
    } catch (error) {
      const waitedMs = performance.now() - started;
      if (!signal.aborted) {
        tally.failures.push({ operation, api, status: null, detail: `network error: ${describe(error)}` });
      } else if (operation === 'execute' && waitedMs > run.executeBoundMs) {
        tally.failures.push({ operation, api, status: null, detail: `no answer after ${Math.round(waitedMs)} ms, past timeout + grace` });
      } else {
        tally.abandoned[operation]++;
      }
      return null;
    }
    const elapsed = performance.now() - started;
    if (reply.status === expected) {
      tally.latencies[operation].push(elapsed);
      return reply;
    }
    if (reply.status !== 429) {
      tally.failures.push({ operation, api, status: reply.status, detail: brief(reply.body) });
      return null;
    }
    tally.throttled[operation]++;
    const retryAfter = Number(reply.headers.get('retry-after'));
    if (!Number.isFinite(retryAfter) || retryAfter < 1) {
      tally.failures.push({ operation, api, status: 429, detail: `429 without a usable Retry-After: ${reply.headers.get('retry-after')}` });
      return null;
    }
    await sleep(retryAfter * 1000);
  }
}

/** JSON in, parsed JSON (or text) out; rejects on a network error or when `signal` aborts. */
async function send(api: string, method: string, path: string, options: RequestOptions, signal: AbortSignal): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await fetch(`${api}${path}`, { method, headers, body, signal });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: kept as text, for the failure's detail
  }
  return { status: response.status, headers: response.headers, body: parsed, api };
}

/** Nearest-rank percentiles, rounded to the millisecond. */
export function percentiles(values: readonly number[]): { count: number; p50: number | null; p95: number | null; p99: number | null } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? null : Math.round(sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!));
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99) };
}

const brief = (body: unknown) => JSON.stringify(body)?.slice(0, 300) ?? String(body);

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
