/**
 * Workers as operators see them (GET /v1/admin/workers), in process: the workers' reports
 * (worker/report.ts) over the in-process bus, listed by id, their executions in flight, their
 * last word when they stop, stale when silent, 503 when the bus cannot answer, and nothing
 * answered beyond the schema's fields whatever a worker sends.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { grantOperator } from '../src/commands/operator-rights.ts';
import type { WorkerReport } from '../src/ports/worker-report.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { busDown } from './support/faults.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, withApp } from './support/in-process-app.ts';

const workers = suite('workers [app in process]');

type WorkerView = WorkerReport & { stale: boolean };

async function operatorOf(app: InProcessApp): Promise<SignedUp> {
  const user = await signUp(app.request, { tag: 'workers-operator' });
  await grantOperator(app.store, user.email, {
    by: 'root@host',
    now: app.clock.now(),
    context: { correlationId: 'workers-app-test', newId: () => crypto.randomUUID() },
  });
  return user;
}

const listed = async (app: InProcessApp, token: string): Promise<WorkerView[]> => {
  const reply = await app.request('GET', '/v1/admin/workers', { token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.workers as WorkerView[];
};

/** Until `probe` holds of the listed workers. */
const untilListed = (app: InProcessApp, token: string, what: string, probe: (workers: WorkerView[]) => boolean) =>
  eventually(what, 3_000, async () => {
    const workers = await listed(app, token);
    return probe(workers) ? workers : undefined;
  }, 20);

workers('every worker reports soon after it starts: listed by id, for operators only', async () => {
  await withApp({}, async (app) => {
    app.startWorker({ concurrency: 2 });
    const operator = await operatorOf(app);
    const found = await untilListed(app, operator.token, 'both workers', (all) => all.length === 2);
    assert.equal(
      found.map(({ workerId, state, concurrency, inFlight, stale }) => ({ workerId, state, concurrency, inFlight, stale })),
      [
        { workerId: 'worker-1', state: 'running', concurrency: 4, inFlight: 0, stale: false },
        { workerId: 'worker-2', state: 'running', concurrency: 2, inFlight: 0, stale: false },
      ],
    );
    const [first] = found;
    assert.is(first!.reportedAt, app.clock.now().toISOString(), "the report's time is the worker's clock");
    assert.equal({ prestarted: first!.prestarted, reused: first!.reused, disk: first!.disk, lastPrunes: first!.lastPrunes }, {
      prestarted: {},
      reused: {},
      disk: null,
      lastPrunes: [],
    });

    const someone = await signUp(app.request, { tag: 'not-an-operator' });
    assertProblem(await app.request('GET', '/v1/admin/workers', { token: someone.token }), 403);
    assertProblem(await app.request('GET', '/v1/admin/workers'), 401);
  });
});

workers('a report counts the executions in flight; a stopped worker says so last', async () => {
  await withApp({ workerReportIntervalMs: 50 }, async (app) => {
    const operator = await operatorOf(app);
    const owner = await signUp(app.request, { tag: 'workers-owner' });
    const fn = await createFunction(app.request, owner.token, { image: IMAGE });
    app.runtime.script(IMAGE, { kind: 'hang' });
    const queued = await app.request('POST', `/v1/functions/${fn.id}/executions?wait=false`, { token: owner.token });
    assert.is(queued.status, 202, JSON.stringify(queued.body));
    const run = await app.runtime.reached('running', queued.body.executionId as string);
    await untilListed(app, operator.token, 'one execution in flight', (all) => all[0]?.inFlight === 1);

    run.finish();
    await untilListed(app, operator.token, 'none in flight', (all) => all[0]?.inFlight === 0);
    await app.worker!.stop();
    const [last] = await listed(app, operator.token);
    assert.equal({ state: last!.state, inFlight: last!.inFlight }, { state: 'stopped', inFlight: 0 });
  });
});

workers('a report older than three of its intervals is stale', async () => {
  await withApp({}, async (app) => {
    const operator = await operatorOf(app);
    const [reported] = await untilListed(app, operator.token, 'the worker', (all) => all.length === 1);
    // The next report is 5 s away in real time: by the clock the api reads, the worker fell silent.
    app.clock.advance(3 * reported!.intervalMs);
    assert.is((await listed(app, operator.token))[0]!.stale, false, 'three intervals exactly: not yet');
    app.clock.advance(1);
    assert.is((await listed(app, operator.token))[0]!.stale, true);
  });
});

workers('a bus that cannot list the reports answers 503 with Retry-After', async () => {
  await withApp({ worker: false }, async (app) => {
    const operator = await operatorOf(app);
    const listWorkerReports = app.bus.listWorkerReports;
    app.bus.listWorkerReports = async () => busDown();
    try {
      const reply = await app.request('GET', '/v1/admin/workers', { token: operator.token });
      assertProblem(reply, 503);
      assert.ok(Number(reply.headers.get('retry-after')) >= 1, 'Retry-After');
    } finally {
      app.bus.listWorkerReports = listWorkerReports;
    }
    assert.equal(await listed(app, operator.token), []);
  });
});

workers('only the fields the schema names are answered, whatever a worker of another release sends', async () => {
  await withApp({ worker: false }, async (app) => {
    const operator = await operatorOf(app);
    const at = app.clock.now().toISOString();
    const sent = {
      workerId: 'worker-from-elsewhere',
      state: 'running',
      startedAt: at,
      reportedAt: at,
      intervalMs: 5_000,
      concurrency: 8,
      inFlight: 1,
      prestarted: {},
      reused: {},
      engineReachable: false,
      disk: null,
      lastPrunes: [],
      env: { API_KEY: 'must-not-be-answered' },
    };
    await app.bus.publishWorkerReport(sent as WorkerReport);
    // And one so old it lacks the newer fields.
    await app.bus.publishWorkerReport({ workerId: 'a-worker-of-old', startedAt: at, reportedAt: at } as WorkerReport);
    const found = await listed(app, operator.token);
    assert.not.ok(JSON.stringify(found).includes('must-not-be-answered'));
    const { env: _env, ...known } = sent;
    assert.equal(found, [
      {
        workerId: 'a-worker-of-old',
        state: 'running',
        startedAt: at,
        reportedAt: at,
        intervalMs: 5_000,
        concurrency: 0,
        inFlight: 0,
        prestarted: {},
        reused: {},
        engineReachable: null,
        disk: null,
        lastPrunes: [],
        stale: false,
      },
      { ...known, stale: false },
    ]);
  });
});

workers.run();
