/**
 * Logs and metrics of the real platform (one process, in-process bus, real Docker): a request's
 * correlation id is on the api's lines and the worker's lines for its job; no password, hash,
 * token or function env value is ever logged; GET /metrics shows what an operator watches.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, uniqueEmail } from './support/http-client.ts';
import { startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer } from './support/server-process.ts';
import { ensureTestImages } from './support/test-images.ts';

const observability = suite('observability [logs and metrics, one process]');

const distinct = () => randomBytes(6).toString('hex');
const PASSWORD = `Obs-password-${distinct()}`;
const ENV_VALUE = `obs-env-value-${distinct()}`;
const TRACE = `obs-trace-${process.pid}-${distinct()}`;
const RUNS = 3;

let registry: Awaited<ReturnType<typeof startRegistry>>;
let server: ServerProcess;
let image: string;
const seen = { token: '', email: '', functionId: '', executionIds: [] as string[], before: '' };

type Sample = { labels: Record<string, string>; value: number };

/** The samples of one metric in Prometheus' text exposition format. */
function samples(text: string, name: string): Sample[] {
  const found: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    found.push({ labels, value: Number(match[3]) });
  }
  return found;
}

const typeOf = (text: string, name: string) => new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];

/** The one sample whose labels include `labels`; fails when there is none or several. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number {
  const matching = samples(text, name).filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  assert.is(matching.length, 1, `${name}${JSON.stringify(labels)}: ${matching.length} samples`);
  return matching[0]!.value;
}

async function scrape(): Promise<string> {
  const reply = await fetch(`${server.url}/metrics`);
  assert.is(reply.status, 200);
  assert.match(reply.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return reply.text();
}

const logLines = () =>
  server.output.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

async function eventually(check: () => Promise<void> | void, ms = 5_000) {
  const giveUpAt = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

// Started in a test, not a hook: uvu would swallow a failed start.
observability('the platform starts with a loopback registry holding the test images', async () => {
  registry = await startRegistry();
  image = (await ensureTestImages(registry.address)).busybox;
  server = await startServer({ env: { FAASBOX_WORKER_ID: `obs-${process.pid}`, FAASBOX_EXECUTION_GRACE_MS: '5000' } });
  seen.before = await scrape();
});

observability('a user registers, logs in, creates a function with an env value and runs it', async () => {
  seen.email = uniqueEmail('obs');
  const registered = await call(server.url, 'POST', '/v1/users', { json: { email: seen.email, password: PASSWORD } });
  assert.is(registered.status, 201);
  const login = await call(server.url, 'POST', '/v1/tokens', { json: { email: seen.email, password: PASSWORD } });
  assert.is(login.status, 200);
  seen.token = login.body.token;
  assert.match(seen.token, /^eyJ/);
  const created = await call(server.url, 'POST', '/v1/functions', {
    token: seen.token,
    json: { name: 'obs', image, command: ['sh', '-c', 'cat; echo "$OBS_SECRET"'], env: { OBS_SECRET: ENV_VALUE } },
  });
  assert.is(created.status, 201, JSON.stringify(created.body));
  seen.functionId = created.body.id;

  for (let run = 0; run < RUNS; run++) {
    const reply = await call(server.url, 'POST', `/v1/functions/${seen.functionId}/executions`, {
      token: seen.token,
      body: `run ${run}\n`,
      // The first run carries the caller's own correlation id.
      headers: run === 0 ? { 'x-request-id': TRACE } : {},
    });
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    assert.is(reply.body.status, 'succeeded');
    assert.is(reply.body.stdout, `run ${run}\n${ENV_VALUE}\n`);
    if (run === 0) assert.is(reply.headers.get('x-request-id'), TRACE);
    seen.executionIds.push(reply.body.executionId);
  }
  assert.is((await call(server.url, 'GET', `/v1/functions/${seen.functionId}`, { token: seen.token })).status, 200);
});

observability("the request's correlation id is on the api's lines and on the worker's lines for its job", async () => {
  const [executionId] = seen.executionIds;
  await eventually(() => {
    const traced = logLines().filter((line) => line.correlationId === TRACE);
    const messages = traced.map((line) => line.message);
    const access = traced.find((line) => line.message === 'http request');
    assert.ok(access, `no access line for ${TRACE}: ${JSON.stringify(traced)}`);
    assert.equal(access, {
      level: 'info',
      time: access.time,
      method: 'POST',
      route: '/v1/functions/:id/executions',
      status: 200,
      durationMs: access.durationMs,
      correlationId: TRACE,
      message: 'http request',
    });
    assert.ok(messages.includes('execution queued'), JSON.stringify(messages));
    const workerLines = traced.filter((line) => line.workerId === `obs-${process.pid}`);
    for (const message of ['job received', 'image ready', 'execution started', 'execution finished']) {
      const line = workerLines.find((candidate) => candidate.message === message);
      assert.ok(line, `worker line "${message}" lacks ${TRACE}: ${JSON.stringify(workerLines)}`);
      assert.is(line.executionId, executionId);
    }
    const finished = workerLines.find((line) => line.message === 'execution finished')!;
    assert.is(finished.outcome, 'succeeded');
    // Cold, or in a pre-started container; the removal comes after the status, so it is not in it.
    const phases = Object.keys(finished.phases as object).sort();
    assert.ok(
      [['createStart', 'pull', 'queueWait', 'run'], ['queueWait', 'run', 'take']].some((expected) => expected.join() === phases.join()),
      phases.join(),
    );
    assert.ok(traced.some((line) => line.message === 'execution ended' && line.outcome === 'succeeded' && line.executionId === executionId));
  });
  // Every line is JSON with a level name and an ISO time.
  for (const line of logLines()) {
    assert.ok(['info', 'warn', 'error'].includes(String(line.level)), JSON.stringify(line));
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
});

observability('GET /metrics: requests by route pattern, outcomes, phases, gauges and pruning, no ids', async () => {
  const text = await scrape();
  const route = '/v1/functions/:id/executions';

  assert.is(typeOf(text, 'faasbox_http_requests_total'), 'counter');
  assert.is(valueOf(text, 'faasbox_http_requests_total', { method: 'POST', route, status: '200' }), RUNS);
  assert.is(typeOf(text, 'faasbox_http_request_duration_seconds'), 'histogram');
  assert.is(valueOf(text, 'faasbox_http_request_duration_seconds_count', { method: 'POST', route, status: '200' }), RUNS);
  assert.ok(valueOf(text, 'faasbox_http_request_duration_seconds_sum', { method: 'POST', route, status: '200' }) > 0);
  assert.is(valueOf(text, 'faasbox_http_request_duration_seconds_bucket', { method: 'POST', route, status: '200', le: '+Inf' }), RUNS);
  assert.is(valueOf(text, 'faasbox_http_requests_total', { method: 'GET', route: '/v1/functions/:id', status: '200' }), 1);
  assert.is(valueOf(text, 'faasbox_http_requests_total', { method: 'POST', route: '/v1/users', status: '201' }), 1);

  assert.is(typeOf(text, 'faasbox_executions_total'), 'counter');
  const succeededBefore = valueOf(seen.before, 'faasbox_executions_total', { outcome: 'succeeded' });
  assert.is(valueOf(text, 'faasbox_executions_total', { outcome: 'succeeded' }) - succeededBefore, RUNS);
  assert.is(valueOf(text, 'faasbox_executions_total', { outcome: 'failed' }), 0);

  // Measured by the worker, carried to the api in the final statuses, counted once per execution.
  assert.is(typeOf(text, 'faasbox_execution_phase_duration_seconds'), 'histogram');
  const phaseCount = (phase: string) => valueOf(text, 'faasbox_execution_phase_duration_seconds_count', { phase });
  for (const phase of ['queue_wait', 'run']) assert.is(phaseCount(phase), RUNS, phase);
  // Each execution either started cold (pull, create_start) or took a pre-started container.
  assert.is(phaseCount('pull') + phaseCount('take'), RUNS);
  assert.is(phaseCount('create_start'), phaseCount('pull'));
  assert.ok(phaseCount('pull') >= 1, 'the first one was cold');
  // Removal happens after the final status: measured by the worker alone.
  assert.is(phaseCount('remove'), 0);
  assert.ok(valueOf(text, 'faasbox_worker_phase_duration_seconds_count', { phase: 'remove' }) >= 1);
  assert.ok(valueOf(text, 'faasbox_execution_phase_duration_seconds_sum', { phase: 'run' }) > 0);

  assert.is(typeOf(text, 'faasbox_images_pruned_total'), 'counter');
  assert.ok(valueOf(text, 'faasbox_images_pruned_total') >= 0);
  assert.is(typeOf(text, 'faasbox_images_pruned_bytes_total'), 'counter');
  assert.ok(valueOf(text, 'faasbox_images_pruned_bytes_total') >= 0);

  assert.is(typeOf(text, 'faasbox_active_executions'), 'gauge');
  assert.is(typeOf(text, 'faasbox_jobs_waiting'), 'gauge');
  assert.is(typeOf(text, 'faasbox_projection_lag'), 'gauge');
  // Everything has ended: the read models show it within a moment.
  await eventually(async () => {
    const now = await scrape();
    assert.is(valueOf(now, 'faasbox_active_executions', { status: 'queued' }), 0);
    assert.is(valueOf(now, 'faasbox_active_executions', { status: 'running' }), 0);
    assert.is(valueOf(now, 'faasbox_jobs_waiting'), 0);
    assert.is(valueOf(now, 'faasbox_projection_lag'), 0);
  });

  assert.match(text, /^process_resident_memory_bytes \d/m);
  for (const id of [seen.functionId, ...seen.executionIds, seen.email]) assert.not.ok(text.includes(id), `/metrics names ${id}`);
});

observability('a request with a token for a missing function is labelled by its route too', async () => {
  const reply = await call(server.url, 'GET', `/v1/functions/${crypto.randomUUID()}`, { token: seen.token });
  assert.is(reply.status, 404);
  const text = await scrape();
  assert.is(valueOf(text, 'faasbox_http_requests_total', { method: 'GET', route: '/v1/functions/:id', status: '404' }), 1);
  assert.is((await call(server.url, 'GET', '/no/such/route/4f2a')).status, 404);
  const after = await scrape();
  assert.is(valueOf(after, 'faasbox_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
  assert.not.match(after, /4f2a/);
});

observability('the platform stops cleanly', async () => {
  assert.is(await server.stop(), 0);
  await registry.stop();
});

observability('no password, hash, token or function env value is anywhere in the logs', () => {
  const logs = server.output.join('\n');
  assert.ok(logs.length > 0 && logs.includes(TRACE), 'the logs were captured');
  assert.not.ok(logs.includes(PASSWORD), 'the password is logged');
  assert.not.match(logs, /\$2[aby]\$/, 'a bcrypt hash is logged');
  assert.not.ok(logs.includes(seen.token), 'the token is logged');
  assert.not.match(logs, /eyJ/, 'a JWT is logged');
  assert.not.ok(logs.includes(ENV_VALUE), 'the function env value is logged');
  assert.not.match(logs, /OBS_SECRET/, 'the env variable name is logged');
  assert.not.ok(logs.includes('run 0'), 'stdin or stdout is logged');
});

observability.run();
