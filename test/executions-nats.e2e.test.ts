import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Deployment, addExecutionScenarios } from './support/execution-scenarios.ts';
import { startNatsServer } from './support/nats-server.ts';
import { startRegistry } from './support/registry.ts';
import { ensureTestImages } from './support/test-images.ts';
import { type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { call } from './support/http-client.ts';

const LIMIT = 2;
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
let registry: Awaited<ReturnType<typeof startRegistry>>;
let nats: Awaited<ReturnType<typeof startNatsServer>>;
let processes: ServerProcess[] = [];
let deployment: Deployment;

const executions = suite('executions [two apis and two workers over NATS]');

executions('two apis and two workers start over one store and one nats-server', async () => {
  registry = await startRegistry();
  const images = await ensureTestImages(registry.address);
  nats = await startNatsServer();
  const dataDir = tempDir();
  const env = {
    FAASBOX_NATS_URL: nats.url,
    FAASBOX_MAX_ACTIVE_PER_USER: String(LIMIT),
    FAASBOX_EXECUTION_GRACE_MS: '5000',
    FAASBOX_JWT_SECRET: 'nats-e2e-secret-of-at-least-32-bytes!!',
  };
  const workerIds = [`nats-e2e-1-${process.pid}`, `nats-e2e-2-${process.pid}`];
  processes = await Promise.all([
    // One event store shared; each api its own read models, as in a real deployment.
    startServer({ role: 'api', dataDir, env: { ...env, FAASBOX_PROJECTIONS_PATH: `${dataDir}/api-1/projections.sqlite` } }),
    startServer({ role: 'api', dataDir, env: { ...env, FAASBOX_PROJECTIONS_PATH: `${dataDir}/api-2/projections.sqlite` } }),
    startServer({
      role: 'worker',
      dataDir,
      env: { ...env, FAASBOX_WORKER_ID: workerIds[0]!, FAASBOX_WORKER_CONCURRENCY: '2', FAASBOX_METRICS_PORT: '0' },
    }),
    startServer({ role: 'worker', dataDir, env: { ...env, FAASBOX_WORKER_ID: workerIds[1]!, FAASBOX_WORKER_CONCURRENCY: '2', FAASBOX_METRICS_PORT: '0' } }),
  ]);
  deployment = { url: processes[0]!.url, image: images.busybox, echoImage: images.echo, workerIds };
});

addExecutionScenarios(executions, () => deployment, LIMIT);

executions('placement: with two workers, the calls of one function go to the worker holding its pre-started container', async () => {
  const { token } = await signUp(deployment.url, { tag: 'placement' });
  const { id } = await createFunction(deployment.url, token, { name: 'placed', image: deployment.image, command: ['cat'] });
  // Ready in a pool (its agent said so), not only created: one of this function's exists, and
  // no worker has one still starting (the workers' own figures).
  const startingOnWorkers = async () => {
    const counts = await Promise.all(
      processes.slice(2).map(async (worker) => {
        const { url } = worker.output.map((l) => JSON.parse(l)).find((l) => l.message === 'metrics listening');
        const text = await (await fetch(url)).text();
        return Number(/^faasbox_prestarted_containers\{state="starting"\} (\d+)/m.exec(text)?.[1] ?? 0);
      }),
    );
    return counts.reduce((sum, n) => sum + n, 0);
  };
  // Containers calls took: one still running under its pool name (renamed and removed just after
  // its call) is not a ready one.
  const used = new Set<string>();
  const ready = async () => {
    const made = (await docker.listContainers({ filters: { label: [`faasbox.prestarted=${id}`], status: ['running'] } })).filter(
      (c) => c.Names[0]?.startsWith('/faasbox-prestarted-') && !used.has(c.Id),
    );
    return made.length > 0 && (await startingOnWorkers()) === 0 ? made : [];
  };
  const first = await call(deployment.url, 'POST', `/v1/functions/${id}/executions`, { token, body: 'first' });
  assert.is(first.body.status, 'succeeded', JSON.stringify(first.body));
  const served: { start: string; workerId: string }[] = [];
  for (let i = 0; i < 10; i++) {
    // A call waits for the pool to refill: what is measured is where a call goes when a container is ready.
    await eventually('a pre-started container is ready', 15_000, async () => ((await ready()).length > 0 ? true : undefined));
    const reply = await call(deployment.url, 'POST', `/v1/functions/${id}/executions`, { token, body: `call ${i}` });
    assert.is(reply.body.stdout, `call ${i}`);
    // From the workers' own lines: with two apis recording, a result can overtake its start notice.
    const startedLine = (worker: ServerProcess) =>
      worker.output.find((line) => line.includes('"message":"execution started"') && line.includes(reply.body.executionId));
    const workers = processes.slice(2);
    const ranOn = workers.findIndex(startedLine);
    if (ranOn >= 0) used.add(JSON.parse(startedLine(workers[ranOn]!)!).containerId);
    served.push({ start: ranOn < 0 ? 'none' : JSON.parse(startedLine(workers[ranOn]!)!).start, workerId: deployment.workerIds[ranOn] ?? 'none' });
  }
  // Without placement about half would go cold to the other worker, which would then keep its own.
  assert.equal(served.map((s) => s.start), served.map(() => 'prestarted'), JSON.stringify(served));
  assert.is(new Set(served.map((s) => s.workerId)).size, 1, JSON.stringify(served));
});

executions('what one api recorded, the other serves', async () => {
  // The scenarios ran against the first api; the second reads the same store.
  const other = processes[1]!.url;
  const first = deployment.url;
  const email = `cross-${Date.now()}@example.com`;
  const password = 'correct horse battery';
  await fetch(`${first}/v1/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  const login = await fetch(`${other}/v1/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  assert.is(login.status, 200);
  const { token } = (await login.json()) as { token: string };
  const created = await fetch(`${other}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ name: 'cross', image: deployment.image, command: ['cat'] }),
  });
  const { id } = (await created.json()) as { id: string };
  const queued = await fetch(`${first}/v1/functions/${id}/executions?wait=false`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: 'across processes',
  });
  // The first api may not have seen the function yet: it answers 404 only if its projection lags.
  const { executionId } = (await queued.json()) as { executionId: string };
  let state: { status: string; stdout: string } | undefined;
  for (let i = 0; i < 100; i++) {
    const reply = await fetch(`${other}/v1/executions/${executionId}`, { headers: { authorization: `Bearer ${token}` } });
    state = (await reply.json()) as { status: string; stdout: string };
    if (state.status === 'succeeded' || state.status === 'failed') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.is(state?.status, 'succeeded');
  assert.is(state?.stdout, 'across processes');
});

executions("a worker serves its own /metrics, and the api's shows the phases its statuses carried", async () => {
  const line = processes[2]!.output.map((l) => JSON.parse(l)).find((l) => l.message === 'metrics listening');
  assert.ok(line, 'the worker with FAASBOX_METRICS_PORT logged where it serves metrics');
  const sampleCount = (text: string, name: string, phase: string) =>
    Number(new RegExp(`^${name}_count\\{phase="${phase}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  const worker = await fetch(line.url);
  assert.is(worker.status, 200);
  const workerText = await worker.text();
  assert.ok(sampleCount(workerText, 'faasbox_worker_phase_duration_seconds', 'run') > 0, 'this worker ran executions');
  assert.match(workerText, /^faasbox_images_pruned_total 0$/m);
  assert.is((await fetch(line.url.replace('/metrics', '/other'))).status, 404);
  const api = await (await fetch(`${deployment.url}/metrics`)).text();
  assert.ok(sampleCount(api, 'faasbox_execution_phase_duration_seconds', 'run') > 0);
  assert.not.match(api, /faasbox_worker_phase_duration_seconds_count\{phase="run"\} [1-9]/, 'an api role runs no worker');
});

executions('every process stops cleanly', async () => {
  const codes = await Promise.all(processes.map((p) => p.stop()));
  assert.equal(codes, [0, 0, 0, 0]);
  await nats.stop();
  await registry.stop();
});

executions.run();
