/**
 * GET /v1/admin/metrics/history in process: executions run by the worker over the scripted
 * runtime, the sampler ticked by hand under the fixed clock, and the points read back as an
 * operator; everyone else is refused. The arithmetic itself is test/metrics-history.unit.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { grantOperator } from '../src/commands/operator-rights.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, withApp } from './support/in-process-app.ts';

const history = suite('metrics history [app in process]');

/** Long enough that the sampler's own timer never fires during a test: the test samples. */
const BY_HAND = { metricsSampleIntervalMs: 3_600_000 };

async function operator(app: InProcessApp): Promise<SignedUp> {
  const user = await signUp(app.request, { tag: 'ops' });
  await grantOperator(app.store, user.email, { by: 'root@host', now: app.clock.now(), context: { correlationId: 'metrics-history-test', newId: () => crypto.randomUUID() } });
  return user;
}

const read = (app: InProcessApp, token: string, query = '') => app.request('GET', `/v1/admin/metrics/history${query}`, { token });

const idle = { count: 0, p50Ms: null, p95Ms: null };

history('executions and their phases per interval, and the gauges at each sample, oldest first', async () => {
  await withApp(BY_HAND, async (app) => {
    const ops = await operator(app);
    const user = await signUp(app.request);
    const fn = await createFunction(app.request, user.token, { image: IMAGE });
    app.runtime.script(IMAGE, { kind: 'exit' }, { kind: 'exit' }, { kind: 'exit', exitCode: 3 }, { kind: 'timeOut' }, { kind: 'hang' });
    const statuses = [];
    for (let n = 0; n < 4; n++) statuses.push((await app.request('POST', `/v1/functions/${fn.id}/executions`, { token: user.token })).body.status);
    assert.equal(statuses, ['succeeded', 'succeeded', 'failed', 'timedOut']);
    app.clock.advance(10_000);
    await app.sampleMetrics();

    // The next interval ends nothing, while one execution runs.
    const hanging = await app.request('POST', `/v1/functions/${fn.id}/executions?wait=false`, { token: user.token });
    assert.is(hanging.status, 202);
    await app.runtime.reached('running', hanging.body.executionId);
    await eventually('running in the read model', 3_000, async () => (app.deps.projections.executions.active().byStatus.running === 1 ? true : undefined), 10);
    app.clock.advance(10_000);
    await app.sampleMetrics();

    const reply = await read(app, ops.token);
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    const start = Date.parse(reply.body.points[0].at) - 10_000;
    // The scripted runtime reports pull, create_start, run (7 ms) and remove; the fixed clock makes the queue wait 0.
    assert.equal(reply.body, {
      intervalSeconds: 3_600,
      points: [
        {
          at: new Date(start + 10_000).toISOString(),
          seconds: 10,
          executionsPerSecond: 0.4,
          byOutcome: { succeeded: 0.2, failed: 0.1, timedOut: 0.1 },
          phases: {
            queue_wait: { count: 4, p50Ms: 2.5, p95Ms: 4.75 },
            pull: { count: 4, p50Ms: 2.5, p95Ms: 4.75 },
            create_start: { count: 4, p50Ms: 2.5, p95Ms: 4.75 },
            take: idle,
            run: { count: 4, p50Ms: 7.5, p95Ms: 9.75 },
            remove: { count: 4, p50Ms: 2.5, p95Ms: 4.75 },
          },
          activeExecutions: { queued: 0, running: 0 },
          jobsWaiting: 0,
        },
        {
          at: new Date(start + 20_000).toISOString(),
          seconds: 10,
          executionsPerSecond: 0,
          byOutcome: { succeeded: 0, failed: 0, timedOut: 0 },
          phases: { queue_wait: idle, pull: idle, create_start: idle, take: idle, run: idle, remove: idle },
          activeExecutions: { queued: 0, running: 1 },
          jobsWaiting: 0,
        },
      ],
    });

    // ?minutes: the points that end within the last N minutes of the api's clock.
    app.clock.advance(50_000);
    assert.equal((await read(app, ops.token, '?minutes=1')).body.points.map((point: { at: string }) => point.at), [new Date(start + 20_000).toISOString()]);
    assert.is((await read(app, ops.token, '?minutes=60')).body.points.length, 2);
    for (const wrong of ['0', '61', '1.5', 'an-hour']) assertProblem(await read(app, ops.token, `?minutes=${wrong}`), 400);
  });
});

history('the sampler samples on its own, at its interval', async () => {
  await withApp({ worker: false, metricsSampleIntervalMs: 20 }, async (app) => {
    const ops = await operator(app);
    const points = await eventually('two points', 3_000, async () => {
      const { body } = await read(app, ops.token);
      return body.points.length >= 2 ? body : undefined;
    });
    assert.is(points.intervalSeconds, 0.02);
    // The fixed clock stands still: each interval is taken to be the nominal one.
    assert.is(points.points[0].seconds, 0.02);
  });
});

history('only operators: 403 for everyone else signed in, 401 without a token', async () => {
  await withApp({ worker: false, ...BY_HAND }, async (app) => {
    const user = await signUp(app.request);
    assertProblem(await read(app, user.token), 403);
    assertProblem(await app.request('GET', '/v1/admin/metrics/history'), 401);
  });
});

history.run();
