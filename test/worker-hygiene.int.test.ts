/**
 * Worker hygiene over NATS, api and workers as separate processes: the orphan reaper (a killed
 * worker's containers, another worker's overdue ones) and the graceful drain on SIGTERM.
 * Other suites share the Docker engine: this one only looks at containers carrying its own labels.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SHUTDOWN_REASON, WORKER_LOST_REASON } from '../worker/worker.ts';
import { createFunction, signUp } from './support/api.ts';
import { call } from './support/http-client.ts';
import { type NatsServer, startNatsServer } from './support/nats-server.ts';
import { createRegistryImageResolver } from '../src/adapters/image-registry/index.ts';
import { pinnedReference } from '../src/domain/image-reference.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';
import { eventually } from './support/eventually.ts';
import { executionOf } from './support/execution-containers.ts';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const LIMIT = 2;
const HOUSEKEEPING_MS = 500;
const DRAIN_MS = 2000;
const workerId = `hygiene-${process.pid}`;
const overdueWorkerId = `hygiene-overdue-${process.pid}`;
const ghostWorkerId = `ghost-${process.pid}`;
/** On the containers this suite creates itself. */
const suiteTag = { 'faasbox.test': `worker-hygiene-${process.pid}` };
const suiteLabel = `faasbox.test=${suiteTag['faasbox.test']}`;
const ourWorkers = [workerId, overdueWorkerId, ghostWorkerId];

let registry: Registry;
let nats: NatsServer;
let images: TestImages;
let api: ServerProcess;
/** The worker of the first two tests, started again after its SIGKILL. */
let worker: ServerProcess;
let dataDir: string;
let env: Record<string, string>;
/** Every process started, so the last test can stop whatever an earlier failure left running. */
const processes: ServerProcess[] = [];
/** Queued while the worker drained: the next worker must run it. */
let leftForTheNextWorker: { executionId: string; token: string } | undefined;

const startProcess = async (options: Parameters<typeof startServer>[0]) => {
  const started = await startServer(options);
  processes.push(started);
  return started;
};
const startWorkerProcess = (id: string, extra: Record<string, string> = {}) =>
  startProcess({ role: 'worker', dataDir, env: { ...env, FAASBOX_WORKER_ID: id, FAASBOX_WORKER_CONCURRENCY: String(LIMIT), ...extra } });
const isRunning = (server: ServerProcess) => server.child.exitCode === null && server.child.signalCode === null;

/** Containers of one worker (or carrying one label), any state. */
async function containersLabelled(label: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [label] } });
}

const newUser = async () => (await signUp(api.url, { tag: 'hygiene' })).token;

const newFunction = async (token: string, command: string[], timeoutMs: number) =>
  (await createFunction(api.url, token, { name: 'hygiene', image: images.busybox, command, timeoutMs })).id;

async function queueExecution(token: string, functionId: string): Promise<string> {
  const queued = await call(api.url, 'POST', `/v1/functions/${functionId}/executions?wait=false`, { token });
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  return queued.body.executionId as string;
}

type ExecutionView = { status: string; reason: string | null; exitCode: number | null };

const executionState = async (token: string, executionId: string) =>
  (await call(api.url, 'GET', `/v1/executions/${executionId}`, { token })).body as ExecutionView;

const untilStatus = (token: string, executionId: string, accepted: string[], timeoutMs: number) =>
  eventually(`execution ${executionId} reaches ${accepted.join(' or ')}`, timeoutMs, async () => {
    const state = await executionState(token, executionId);
    return accepted.includes(state.status) ? state : undefined;
  }, 100);

const TERMINAL = ['succeeded', 'failed', 'timedOut'];

const test = suite('worker hygiene [api and workers over NATS]');

test('an api and a worker start over one nats-server', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
  nats = await startNatsServer();
  dataDir = tempDir();
  env = {
    FAASBOX_NATS_URL: nats.url,
    FAASBOX_MAX_ACTIVE_PER_USER: String(LIMIT),
    FAASBOX_JWT_SECRET: 'worker-hygiene-secret-of-at-least-32-bytes',
  };
  api = await startProcess({ role: 'api', dataDir, env });
  worker = await startWorkerProcess(workerId);
  assert.equal(await containersLabelled(`faasbox.worker=${workerId}`), []);
});

test('a SIGKILLed worker, restarted, removes its orphans at once and reports their executions lost; the slots are free again', async () => {
  const token = await newUser();
  // Deadline = timeout + the api's grace (30 s) away: within this test only the reaper can end them.
  const sleeper = await newFunction(token, ['sleep', '30'], 30_000);
  const executionIds = [await queueExecution(token, sleeper), await queueExecution(token, sleeper)];
  for (const id of executionIds) await untilStatus(token, id, ['running'], 20_000);

  const killedAt = Date.now();
  await worker.kill();
  // Without this the test could pass against a worker that never left anything behind.
  // Besides them, pre-started containers the pool was keeping ready; a taken one is named after its execution.
  const left = await containersLabelled(`faasbox.worker=${workerId}`);
  const ran = left.filter((c) => executionOf(c) !== null);
  assert.equal(ran.map(executionOf).sort(), [...executionIds].sort());
  assert.ok(left.every((c) => c.State === 'running'), JSON.stringify(left.map((c) => c.State)));

  worker = await startWorkerProcess(workerId, {
    FAASBOX_HOUSEKEEPING_INTERVAL_MS: String(HOUSEKEEPING_MS),
    FAASBOX_DRAIN_TIMEOUT: String(DRAIN_MS),
  });
  const restartedAt = Date.now();
  const removedAt = await eventually('the orphans are removed', 15_000, async () =>
    (await containersLabelled(`faasbox.worker=${workerId}`)).length === 0 ? Date.now() : undefined,
  );
  console.log(`reaper: last orphan removed ${removedAt - killedAt} ms after SIGKILL (${removedAt - restartedAt} ms after the restarted worker was up)`);
  assert.ok(removedAt - restartedAt <= HOUSEKEEPING_MS + 2000, `removed ${removedAt - restartedAt} ms after the restart`);

  // Well inside the 60 s deadline, so only the reaper's report can end them; generous because a
  // loaded machine (2 cores, Docker busy) can take seconds to carry a status through NATS.
  for (const id of executionIds) {
    const state = await untilStatus(token, id, TERMINAL, 25_000);
    const lost = state.status === 'failed' && state.reason === WORKER_LOST_REASON;
    assert.ok(lost || state.status === 'timedOut', JSON.stringify(state));
  }
  const reaped = worker.output.filter((line) => line.includes('"message":"orphan container removed"') && executionIds.some((id) => line.includes(id)));
  assert.is(reaped.length, 2, reaped.join('\n'));
  assert.ok(reaped.every((line) => line.includes('"why":"left by an earlier run of this worker"')), reaped.join('\n'));

  // Both of the user's slots were held by the lost executions: a new one runs only if they were released.
  const echo = await newFunction(token, ['echo', 'slots free'], 10_000);
  const reply = await call(api.url, 'POST', `/v1/functions/${echo}/executions`, { token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  assert.is(reply.body.status, 'succeeded');
  assert.is(reply.body.stdout, 'slots free\n');
});

test('SIGTERM drains: a short execution finishes, a long one is killed at the drain timeout and reported, the worker exits 0', async () => {
  assert.ok(isRunning(worker), 'the restarted worker is running');
  const token = await newUser();
  const short = await queueExecution(token, await newFunction(token, ['sleep', '1'], 10_000));
  const long = await queueExecution(token, await newFunction(token, ['sleep', '60'], 60_000));
  await untilStatus(token, short, ['running'], 10_000);
  await untilStatus(token, long, ['running'], 10_000);

  const stoppedAt = Date.now();
  const exited = worker.stop();
  // Queued while the worker drains, with a slot freed by the short execution meanwhile: a worker
  // that still took jobs would run it.
  const other = await newUser();
  const echo = await newFunction(other, ['echo', 'next worker'], 10_000);
  leftForTheNextWorker = { executionId: await queueExecution(other, echo), token: other };
  const code = await exited;
  const tookMs = Date.now() - stoppedAt;

  assert.is(code, 0, worker.output.slice(-5).join('\n'));
  assert.ok(tookMs >= DRAIN_MS && tookMs < DRAIN_MS + 8000, `exited ${tookMs} ms after SIGTERM`);
  assert.equal(await containersLabelled(`faasbox.worker=${workerId}`), []);
  const shortState = await untilStatus(token, short, TERMINAL, 10_000);
  assert.is(shortState.status, 'succeeded', JSON.stringify(shortState));
  assert.is(shortState.exitCode, 0);
  const longState = await untilStatus(token, long, TERMINAL, 10_000);
  assert.is(longState.status, 'failed', JSON.stringify(longState));
  assert.is(longState.reason, SHUTDOWN_REASON);
  assert.is((await executionState(other, leftForTheNextWorker.executionId)).status, 'queued');
});

/** The suite's image as its functions pinned it. */
const pinnedImage = async () => pinnedReference(images.busybox, await createRegistryImageResolver().digestOf(images.busybox));

test("another worker's periodic reap removes a vanished worker's container once it is overdue, and nothing else", async () => {
  // maxTimeoutMs + graceMs = 100 + 1000: a container over 1.1 s old is overdue for this worker.
  // Kept alive only for this test: it would reap any other suite's execution older than that.
  const overdueAfterMs = 1100;
  const reaper = await startWorkerProcess(overdueWorkerId, {
    FAASBOX_MAX_TIMEOUT_MS: '100',
    FAASBOX_DEFAULT_TIMEOUT_MS: '100',
    FAASBOX_EXECUTION_GRACE_MS: '1000',
    FAASBOX_HOUSEKEEPING_INTERVAL_MS: '250',
  });
  let exitCode: number | null;
  try {
    // What the workers ran, and so have on the engine: the image by its digest, not its tag.
    const ran = await pinnedImage();
    const ghostExecution = randomUUID();
    const createdAt = Date.now();
    const ghost = await docker.createContainer({
      name: `faasbox-${ghostExecution}`,
      Image: ran,
      Cmd: ['sleep', '60'],
      Labels: { 'faasbox.execution': ghostExecution, 'faasbox.worker': ghostWorkerId, ...suiteTag },
      HostConfig: { NetworkMode: 'none' },
    });
    await ghost.start();
    // Not an execution (no faasbox.execution label): never the reaper's to remove.
    const bystander = await docker.createContainer({
      Image: ran,
      Cmd: ['true'],
      Labels: { 'faasbox.worker': ghostWorkerId, ...suiteTag },
      HostConfig: { NetworkMode: 'none' },
    });

    const goneAt = await eventually('the overdue container is removed', 10_000, async () =>
      (await containersLabelled(`faasbox.execution=${ghostExecution}`)).length === 0 ? Date.now() : undefined,
    );
    assert.ok(goneAt - createdAt >= overdueAfterMs, `removed ${goneAt - createdAt} ms after it was created: before it was overdue`);
    // The reaper logs after it has also reported the execution over the bus: the line comes later.
    const reapedLines = () => reaper.output.filter((line) => line.includes('"message":"orphan container removed"') && line.includes(ghostExecution));
    const reaped = await eventually('the reaper logs the removal', 5_000, async () => (reapedLines().length > 0 ? reapedLines() : undefined));
    assert.is(reaped.length, 1, reaper.output.join('\n'));
    assert.match(reaped[0]!, '"why":"overdue"');
    assert.match(reaped[0]!, '"reported":true');
    assert.equal((await containersLabelled(suiteLabel)).map((c) => c.Id), [bystander.id]);
    await bystander.remove({ force: true });

    assert.ok(leftForTheNextWorker, 'the drain test queued an execution');
    const { executionId, token } = leftForTheNextWorker;
    const state = await untilStatus(token, executionId, TERMINAL, 15_000);
    assert.is(state.status, 'succeeded', JSON.stringify(state));
  } finally {
    exitCode = await reaper.stop();
  }
  assert.is(exitCode, 0);
});

test('everything stops, and no container of this suite remains', async () => {
  const ran = await pinnedImage();
  const codes = await Promise.all(processes.filter(isRunning).map((p) => p.stop()));
  await nats.stop();
  await registry.stop();
  const labelled = [...(await Promise.all(ourWorkers.map((id) => containersLabelled(`faasbox.worker=${id}`)))).flat(), ...(await containersLabelled(suiteLabel))];
  const leftovers = [...new Map(labelled.map((c) => [c.Id, c])).values()];
  // Removed before asserting, so a failure here leaves nothing running on the shared engine.
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  await docker.getImage(ran).remove().catch(() => {});
  assert.equal(codes, codes.map(() => 0));
  assert.equal(leftovers.map((c) => `${c.Names.join(',')} ${c.State}`), []);
});

test.run();
