import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AppEnv } from '../src/http/env.ts';
import { requestId } from 'hono/request-id';
import { UNMATCHED_ROUTE, observeRequests } from '../src/http/middleware/metrics.ts';
import { type Logger } from '../src/ports/logger.ts';
import { createJsonLogger } from '../src/log.ts';
import { startMetricsServer } from '../src/metrics/metrics-server.ts';
import { createMetrics, measurePlatform, observePhases } from '../src/metrics/metrics.ts';
import { createImagePruner } from '../worker/disk/index.ts';

const metrics = suite('metrics and logs');

type Line = { level: string; message: string; fields: Record<string, unknown> };

const capturingLogger = (): { log: Logger; lines: Line[] } => {
  const lines: Line[] = [];
  return { lines, log: (level, message, fields = {}) => lines.push({ level, message, fields }) };
};

/** The same middleware order as src/http/app.ts, over routes shaped like Faasbox's. */
function appWithRoutes(log: Logger) {
  const measured = createMetrics({ defaultMetrics: false });
  const app = new OpenAPIHono<AppEnv>();
  app.use('*', requestId({ limitLength: 128 }));
  app.use('*', observeRequests(measured, log));
  app.use('/v1/*', bodyLimit({ maxSize: 16, onError: (c) => c.text('too large', 413) }));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/v1/functions/:id', (c) => c.json({ id: c.req.param('id') }));
  // Declared the OpenAPI way, `{id}`: registered with Hono as `:id`.
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/functions/{id}/executions',
      request: { params: z.object({ id: z.string() }) },
      responses: { 200: { description: 'ran' } },
    }),
    (c) => c.json({ ran: c.req.valid('param').id }, 200),
  );
  app.notFound((c) => c.text('no route', 404));
  return { app, measured };
}

/** `name{labels} value` lines of the exposition text, for one metric. */
const samples = (text: string, name: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => {
      const match = /^[^{\s]+(?:\{(.*)\})? (\S+)$/.exec(line);
      const labels = Object.fromEntries([...(match?.[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      return { labels, value: Number(match?.[2]) };
    });

metrics('requests are labelled by route pattern, never by the path with its ids', async () => {
  const { log, lines } = capturingLogger();
  const { app, measured } = appWithRoutes(log);
  assert.is((await app.request('/v1/functions/9b1e-0001')).status, 200);
  assert.is((await app.request('/v1/functions/9b1e-0002?token=query-secret')).status, 200);
  assert.is((await app.request('/v1/functions/9b1e-0003/executions', { method: 'POST', body: 'hi' })).status, 200);
  // Answered by the body limit, before the route's handler: still that route.
  assert.is((await app.request('/v1/functions/9b1e-0004/executions', { method: 'POST', body: 'x'.repeat(64) })).status, 413);

  const text = await measured.registry.metrics();
  assert.not.match(text, /9b1e/);
  const requests = samples(text, 'faasbox_http_requests_total');
  assert.equal(
    requests.find((s) => s.labels.route === '/v1/functions/:id' && s.labels.status === '200'),
    { labels: { method: 'GET', route: '/v1/functions/:id', status: '200' }, value: 2 },
  );
  assert.ok(requests.some((s) => s.labels.route === '/v1/functions/:id/executions' && s.labels.status === '200' && s.value === 1));
  assert.ok(requests.some((s) => s.labels.route === '/v1/functions/:id/executions' && s.labels.status === '413' && s.value === 1));
  const count = samples(text, 'faasbox_http_request_duration_seconds_count');
  assert.ok(count.some((s) => s.labels.route === '/v1/functions/:id' && s.labels.method === 'GET' && s.value === 2));
  assert.match(text, /# TYPE faasbox_http_request_duration_seconds histogram/);

  const access = lines.filter((line) => line.message === 'http request');
  assert.is(access.length, 4);
  assert.equal(Object.keys(access[0]!.fields).sort(), ['correlationId', 'durationMs', 'method', 'route', 'status']);
  assert.is(access[1]!.fields.route, '/v1/functions/:id');
  assert.not.match(JSON.stringify(lines), /9b1e|query-secret/);
});

metrics(`a request no route matches is labelled "${UNMATCHED_ROUTE}", whatever its path or method`, async () => {
  const { log, lines } = capturingLogger();
  const { app, measured } = appWithRoutes(log);
  assert.is((await app.request('/wp-admin/install.php')).status, 404);
  assert.is((await app.request('/v1/nothing/here', { method: 'DELETE' })).status, 404);
  assert.is((await app.request('/v1/functions/1', { method: 'BREW' })).status, 404);
  const requests = samples(await measured.registry.metrics(), 'faasbox_http_requests_total');
  assert.equal(requests.map((s) => s.labels.route), [UNMATCHED_ROUTE, UNMATCHED_ROUTE, UNMATCHED_ROUTE]);
  assert.equal(requests.map((s) => s.labels.method).sort(), ['DELETE', 'GET', 'other']);
  assert.ok(lines.every((line) => line.fields.route === UNMATCHED_ROUTE));
});

metrics('health probes are counted but write no access line', async () => {
  const { log, lines } = capturingLogger();
  const { app, measured } = appWithRoutes(log);
  await app.request('/healthz');
  assert.is(lines.length, 0);
  assert.ok(samples(await measured.registry.metrics(), 'faasbox_http_requests_total').some((s) => s.labels.route === '/healthz'));
});

metrics('the access line carries the correlation id the caller sent', async () => {
  const { log, lines } = capturingLogger();
  const { app } = appWithRoutes(log);
  await app.request('/v1/functions/abc', { headers: { 'x-request-id': 'trace-42', authorization: 'Bearer eyJsecret' } });
  assert.is(lines[0]?.fields.correlationId, 'trace-42');
  assert.not.match(JSON.stringify(lines), /eyJ|Bearer/);
});

metrics('log lines are JSON with level names, ISO time and message; secret fields are masked', () => {
  const written: string[] = [];
  const log = createJsonLogger({ write: (line: string) => void written.push(line) });
  log('warn', 'something happened', {
    executionId: 'e-1',
    password: 'hunter2-password',
    passwordHash: '$2b$10$abcdefghijklmnopqrstuv',
    token: 'eyJhbGciOiJIUzI1NiJ9.x.y',
    job: { env: { API_KEY: 'env-value-123' }, image: 'busybox' },
    headers: { authorization: 'Bearer eyJ…' },
  });
  assert.is(written.length, 1);
  assert.ok(written[0]!.endsWith('\n'));
  const line = JSON.parse(written[0]!) as Record<string, unknown>;
  assert.is(line.level, 'warn');
  assert.is(line.message, 'something happened');
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.is(line.executionId, 'e-1');
  assert.equal(line.job, { env: '[redacted]', image: 'busybox' });
  assert.not.match(written[0]!, /hunter2|\$2b\$|eyJ|env-value-123|Bearer/);
  assert.not.ok('pid' in line || 'hostname' in line);
});

metrics('a message with % signs is written as it is', () => {
  const written: string[] = [];
  createJsonLogger({ write: (line: string) => void written.push(line) })('info', 'disk use 91% above %s high water', {});
  assert.is((JSON.parse(written[0]!) as { message: string }).message, 'disk use 91% above %s high water');
});

metrics('phase durations from a status count only when known and sensible', async () => {
  const measured = createMetrics({ defaultMetrics: false });
  observePhases(measured.executionPhaseSeconds, { queueWait: 12, pull: 1500, createStart: -1, run: Number.NaN });
  observePhases(measured.executionPhaseSeconds, { bogus: 5, toString: 5, run: '5' } as never);
  observePhases(measured.executionPhaseSeconds, null as never);
  const counts = samples(await measured.registry.metrics(), 'faasbox_execution_phase_duration_seconds_count');
  const count = (phase: string) => counts.find((s) => s.labels.phase === phase)?.value;
  assert.equal([count('queue_wait'), count('pull'), count('create_start'), count('run'), count('remove')], [1, 1, 0, 0, 0]);
  assert.is(count('bogus'), undefined);
  const sums = samples(await measured.registry.metrics(), 'faasbox_execution_phase_duration_seconds_sum');
  assert.is(sums.find((s) => s.labels.phase === 'pull')?.value, 1.5);
});

metrics('a gauge that cannot be read reports NaN and the scrape still answers', async () => {
  const measured = createMetrics({ defaultMetrics: false });
  measurePlatform(measured, {
    activeExecutions: () => ({ queued: 3, running: 2 }),
    jobsWaiting: () => Promise.reject(new Error('NATS is unreachable')),
    projectionLag: async () => 7,
  });
  const text = await measured.registry.metrics();
  assert.equal(samples(text, 'faasbox_active_executions'), [
    { labels: { status: 'queued' }, value: 3 },
    { labels: { status: 'running' }, value: 2 },
  ]);
  assert.ok(Number.isNaN(samples(text, 'faasbox_jobs_waiting')[0]!.value));
  assert.is(samples(text, 'faasbox_projection_lag')[0]!.value, 7);
});

metrics("every outcome's series exists before the first execution ends", async () => {
  const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
  assert.equal(
    samples(text, 'faasbox_executions_total').map((s) => [s.labels.outcome, s.value]),
    [
      ['succeeded', 0],
      ['failed', 0],
      ['timedOut', 0],
    ],
  );
});

metrics("the pruner counts the images it removed and their sizes, as its totals do", async () => {
  const measured = createMetrics({ defaultMetrics: false });
  const image = (id: string, size: number) => ({ Id: id, RepoTags: [`registry.test/${id}:1`], RepoDigests: [], Size: size, Created: 1 });
  // Just what pruneUnused asks of the engine: two unused images, both removable.
  const engine = {
    info: async () => ({}),
    listContainers: async () => [],
    listImages: async () => [image('sha256:aa', 1000), image('sha256:bb', 500)],
    getImage: () => ({ remove: async () => ({}) }),
  };
  const pruner = createImagePruner(engine as never, { keepImages: new Set(), highWater: 85, lowWater: 70, log: () => {}, metrics: measured });
  await pruner.pruneUnused('test');
  const text = await measured.registry.metrics();
  assert.equal(pruner.totals(), { prunes: 1, imagesPruned: 2, bytesReclaimed: 1500 });
  assert.is(samples(text, 'faasbox_images_pruned_total')[0]?.value, 2);
  assert.is(samples(text, 'faasbox_images_pruned_bytes_total')[0]?.value, 1500);
});

metrics('a worker without an http api serves its registry on its own port', async () => {
  const measured = createMetrics();
  measured.imagesPruned.inc(2);
  const server = await startMetricsServer(measured.registry, { port: 0, hostname: '127.0.0.1' });
  try {
    const reply = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.is(reply.status, 200);
    assert.is(reply.headers.get('content-type'), measured.registry.contentType);
    const text = await reply.text();
    assert.equal(samples(text, 'faasbox_images_pruned_total'), [{ labels: {}, value: 2 }]);
    assert.match(text, /^process_cpu_seconds_total /m);
    assert.is((await fetch(`http://127.0.0.1:${server.port}/`)).status, 404);
    assert.is((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

metrics.run();
