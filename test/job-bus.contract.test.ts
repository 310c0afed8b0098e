/**
 * The JobBus contract: every adapter must pass every test here.
 * Each test opens a fresh, empty backend (for NATS a nats-server of its own, ~50 ms), so no
 * test sees another's jobs, and a server that cannot start fails the tests instead of a hook.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from '@nats-io/transport-node';
import { connectNatsJobBus, createInProcessJobBus } from '../src/adapters/job-bus/index.ts';
import { BusUnavailableError, type Job, type JobBus, type JobDelivery, type StatusMessage, type WarmFunctions, type WarmTarget } from '../src/ports/job-bus.ts';
import type { WorkerReport } from '../src/ports/worker-report.ts';
import { within } from './support/eventually.ts';
import { type NatsServer, startNatsServer } from './support/nats-server.ts';

/** One backend shared by the "processes" of a test: each `connect()` is a process's bus. */
type World = {
  connect(): Promise<JobBus>;
  close(): Promise<void>;
  /** Only where the backend is a separate server. */
  server?: NatsServer;
};

type Backend = { name: string; open(): Promise<World> };

/**
 * How long the buses of these tests keep a worker's report (30 s in production): short, so that
 * a report's expiry is seen, and long enough for the other report tests to read theirs.
 */
const workerReportsKeptMs = 2_000;

const inProcess: Backend = {
  name: 'in-process',
  open: async () => {
    // One process: every "process" of the test shares the one bus.
    const bus = createInProcessJobBus({ workerReportsKeptMs });
    return { connect: async () => bus, close: () => bus.close() };
  },
};

const nats: Backend = {
  name: 'nats',
  open: async () => {
    const server = await startNatsServer();
    const buses: JobBus[] = [];
    return {
      server,
      connect: async () => {
        const bus = await connectNatsJobBus({ connect, servers: server.url, name: 'contract-test', workerReportsKeptMs });
        buses.push(bus);
        return bus;
      },
      close: async () => {
        await Promise.all(buses.map((bus) => bus.close()));
        await server.stop();
      },
    };
  },
};

const testTimeoutMs = 10_000;
/** Long enough for a wrongly redelivered message to show up (the first back-off is 250 ms). */
const quietMs = 600;

defineContract(inProcess);
defineContract(nats, { separateServer: true });

function defineContract(backend: Backend, { separateServer = false } = {}) {
  const contract = suite(`job-bus contract [${backend.name}]`);

  const test = (name: string, body: (world: World) => Promise<void>) =>
    contract(name, async () => {
      const world = await within(backend.open(), testTimeoutMs, 'opening the backend');
      try {
        await within(body(world), testTimeoutMs, name);
      } finally {
        await within(world.close(), testTimeoutMs, 'closing the backend');
      }
    });

  test('a published job is delivered, and once acked never again', async (world) => {
    const bus = await world.connect();
    const job = aJob();
    await bus.publishJob(job);
    const received: Job[] = [];
    const consumer = bus.consumeJobs(async (delivery) => {
      received.push(delivery.job);
      await delivery.ack();
    }, { concurrency: 1 });
    await eventually(() => received.length === 1, 'job delivered');
    await sleep(quietMs);
    await consumer.stop();
    assert.equal(received, [job]);
    assert.is(await bus.pendingJobs(), 0);
  });

  test('a job goes to exactly one of two consumers', async (world) => {
    const [api, workerA, workerB] = [await world.connect(), await world.connect(), await world.connect()];
    const takenBy = new Map<string, string[]>();
    const worker = (bus: JobBus, name: string) =>
      bus.consumeJobs(async (delivery) => {
        takenBy.set(delivery.job.executionId, [...(takenBy.get(delivery.job.executionId) ?? []), name]);
        await delivery.ack();
      }, { concurrency: 2 });
    const consumers = [worker(workerA, 'a'), worker(workerB, 'b')];
    const jobs = Array.from({ length: 10 }, () => aJob());
    for (const job of jobs) await api.publishJob(job);
    await eventually(() => takenBy.size === jobs.length, 'all jobs delivered');
    await sleep(quietMs);
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    for (const job of jobs) assert.is(takenBy.get(job.executionId)?.length, 1, `${job.executionId} taken by ${takenBy.get(job.executionId)}`);
  });

  test('a job published twice under one executionId is queued and delivered once', async (world) => {
    const [api, retryingApi] = [await world.connect(), await world.connect()];
    const job = aJob();
    await api.publishJob(job);
    await api.publishJob(job);
    await retryingApi.publishJob({ ...job, correlationId: 'retried' });
    assert.is(await api.pendingJobs(), 1);
    const received: Job[] = [];
    const consumer = api.consumeJobs(async (delivery) => {
      received.push(delivery.job);
      await delivery.ack();
    }, { concurrency: 4 });
    await eventually(() => received.length >= 1, 'job delivered');
    await sleep(quietMs);
    await consumer.stop();
    assert.equal(received, [job]);
  });

  test('never more unfinished handlers than `concurrency`, and the rest stay queued', async (world) => {
    const bus = await world.connect();
    const jobs = Array.from({ length: 5 }, () => aJob());
    for (const job of jobs) await bus.publishJob(job);
    let running = 0;
    let mostRunning = 0;
    const finished: string[] = [];
    const blocked: (() => void)[] = [];
    const consumer = bus.consumeJobs(async (delivery) => {
      running++;
      mostRunning = Math.max(mostRunning, running);
      await delivery.ack();
      await new Promise<void>((resolve) => blocked.push(resolve));
      finished.push(delivery.job.executionId);
      running--;
    }, { concurrency: 2 });

    await eventually(() => running === 2, 'two jobs running');
    await sleep(quietMs);
    assert.is(running, 2);
    // A worker pulls only for free slots: the other three are still there for other workers.
    assert.is(await bus.pendingJobs(), 3);
    while (finished.length < jobs.length) {
      await eventually(() => blocked.length > 0, `a handler waiting after ${finished.length} finished`);
      blocked.shift()!();
      await sleep(20);
    }
    await consumer.stop();
    assert.is(mostRunning, 2);
    assert.equal([...finished].sort(), jobs.map((job) => job.executionId).sort());
    assert.is(await bus.pendingJobs(), 0);
  });

  test('a released job is delivered again', async (world) => {
    const bus = await world.connect();
    const job = aJob();
    await bus.publishJob(job);
    const deliveries: string[] = [];
    const consumer = bus.consumeJobs(async (delivery) => {
      deliveries.push(delivery.job.executionId);
      if (deliveries.length === 1) await delivery.release();
      else await delivery.ack();
    }, { concurrency: 1 });
    await eventually(() => deliveries.length === 2, 'job delivered again after release');
    await sleep(quietMs);
    await consumer.stop();
    assert.equal(deliveries, [job.executionId, job.executionId]);
  });

  test('a job whose handler settles without ack or release is delivered again', async (world) => {
    const bus = await world.connect();
    const [forgotten, failed] = [aJob(), aJob()];
    const deliveries: string[] = [];
    const consumer = bus.consumeJobs(async (delivery: JobDelivery) => {
      const id = delivery.job.executionId;
      const attempt = deliveries.filter((seen) => seen === id).length + 1;
      deliveries.push(id);
      if (attempt > 1) return delivery.ack();
      if (id === failed.executionId) throw new Error('handler crashed before acking');
    }, { concurrency: 2 });
    await bus.publishJob(forgotten);
    await bus.publishJob(failed);
    await eventually(() => deliveries.length === 4, 'both jobs delivered twice');
    await sleep(quietMs);
    await consumer.stop();
    assert.equal([...deliveries].sort(), [forgotten.executionId, forgotten.executionId, failed.executionId, failed.executionId].sort());
  });

  test('a job goes to the consumer holding its function warm; to another when that one is busy', async (world) => {
    const [api, warmWorker, coldWorker] = [await world.connect(), await world.connect(), await world.connect()];
    const functionId = randomUUID();
    const takenBy: Record<string, string> = {};
    const held: (() => void)[] = [];
    let warmRunning = 0;
    let warmMostRunning = 0;
    const warmConsumer = warmWorker.consumeJobs(async (delivery) => {
      warmMostRunning = Math.max(warmMostRunning, ++warmRunning);
      takenBy[delivery.job.executionId] = 'warm';
      await delivery.ack();
      if (delivery.job.correlationId === 'hold') await new Promise<void>((resolve) => held.push(resolve));
      warmRunning--;
    }, { concurrency: 2, warm: fixedWarm([functionId]) });
    const coldConsumer = (bus: JobBus) =>
      bus.consumeJobs(async (delivery) => {
        takenBy[delivery.job.executionId] = 'cold';
        await delivery.ack();
      }, { concurrency: 2 });
    let cold = coldConsumer(coldWorker);
    // The warm worker's interest reaches the broker asynchronously.
    await sleep(300);
    const forWarm = Array.from({ length: 8 }, () => ({ ...aJob(), functionId }));
    for (const job of forWarm) {
      await api.publishJob(job);
      await eventually(() => takenBy[job.executionId] !== undefined, `${job.executionId} taken`);
    }
    assert.equal(forWarm.map((job) => takenBy[job.executionId]), forWarm.map(() => 'warm'));

    // Both of the warm worker's slots busy (the other worker away meanwhile, so both go to it).
    await cold.stop();
    for (let i = 0; i < 2; i++) await api.publishJob({ ...aJob(), functionId, correlationId: 'hold' });
    await eventually(() => held.length === 2, 'the warm worker holds two jobs');
    cold = coldConsumer(coldWorker);
    const overflow = { ...aJob(), functionId };
    await api.publishJob(overflow);
    await eventually(() => takenBy[overflow.executionId] !== undefined, 'the overflow taken');
    assert.is(takenBy[overflow.executionId], 'cold');
    for (const release of held) release();
    await sleep(quietMs);
    await Promise.all([warmConsumer.stop(), cold.stop()]);
    assert.is(Object.keys(takenBy).length, forWarm.length + 3, 'each job taken once');
    assert.is(warmMostRunning, 2, 'warm offers never take the warm worker past its concurrency');
  });

  test('a warm job handed back unstarted runs elsewhere, once', async (world) => {
    const [api, warmWorker, coldWorker] = [await world.connect(), await world.connect(), await world.connect()];
    const functionId = randomUUID();
    const deliveries: string[] = [];
    const warmConsumer = warmWorker.consumeJobs(async (delivery) => {
      deliveries.push('warm');
      await delivery.release();
    }, { concurrency: 2, warm: fixedWarm([functionId]) });
    await sleep(300);
    const coldConsumer = coldWorker.consumeJobs(async (delivery) => {
      deliveries.push('cold');
      await delivery.ack();
    }, { concurrency: 2 });
    // Stopped after the hand-back, so that the job cannot come back to it.
    const job = { ...aJob(), functionId };
    await api.publishJob(job);
    await eventually(() => deliveries.includes('warm'), 'offered to the warm worker first');
    await warmConsumer.stop();
    await eventually(() => deliveries.includes('cold'), 'handed back to the cold worker');
    await sleep(quietMs);
    await coldConsumer.stop();
    assert.is(deliveries.filter((d) => d === 'cold').length, 1, deliveries.join());
  });

  test('a deleted function is announced to every watcher, in every process, until it stops', async (world) => {
    const [api, workerA, workerB] = [await world.connect(), await world.connect(), await world.connect()];
    const heard: string[] = [];
    const watches = [workerA.watchFunctionRetirements((id) => heard.push(`a ${id}`)), workerB.watchFunctionRetirements((id) => heard.push(`b ${id}`))];
    await sleep(300);
    const [first, second] = [randomUUID(), randomUUID()];
    await api.announceFunctionRetired(first);
    await eventually(() => heard.length === 2, 'both heard it');
    await watches[1]!.stop();
    await sleep(100);
    await api.announceFunctionRetired(second);
    await eventually(() => heard.length === 3, 'the one still watching heard it');
    await sleep(quietMs);
    await watches[0]!.stop();
    assert.equal([...heard].sort(), [`a ${first}`, `a ${second}`, `b ${first}`].sort());
  });

  test('warm targets: a watcher hears those set before it started, then each change, in every process', async (world) => {
    const [api, workerA, workerB] = [await world.connect(), await world.connect(), await world.connect()];
    const [kept, changed, removed] = [randomUUID(), randomUUID(), randomUUID()];
    const target = (functionId: string, minWarm: number) => ({
      functionId,
      ownerId: 'owner',
      image: 'registry.local/app:1',
      command: ['serve', '--once'],
      env: { MODE: 'warm' },
      memoryMb: 64,
      minWarm,
    });
    for (const id of [kept, changed, removed]) await api.setWarmTarget(id, target(id, 1));
    const seen = (into: Map<string, number | null>) => (functionId: string, value: WarmTarget | null) => {
      if (value) assert.equal(value, target(functionId, value.minWarm));
      into.set(functionId, value?.minWarm ?? null);
    };
    const [inA, inB] = [new Map<string, number | null>(), new Map<string, number | null>()];
    const watchA = workerA.watchWarmTargets(seen(inA));
    await eventually(() => inA.size === 3, 'the targets set before the watch');
    const watchB = workerB.watchWarmTargets(seen(inB));
    await api.setWarmTarget(changed, target(changed, 3));
    await api.setWarmTarget(removed, null);
    const expected = new Map<string, number | null>([[kept, 1], [changed, 3], [removed, null]]);
    for (const into of [inA, inB]) await eventually(() => into.get(changed) === 3 && into.get(removed) === null, 'the changes');
    assert.equal((await workerB.listWarmTargets()).sort(), [kept, changed].sort());
    await Promise.all([watchA.stop(), watchB.stop()]);
    await api.setWarmTarget(kept, target(kept, 2));
    await sleep(quietMs);
    assert.equal(inA, expected);
    assert.equal(inB, expected);
  });

  test('watchStatuses hears the statuses of its execution published after it opened', async (world) => {
    const [api, worker] = [await world.connect(), await world.connect()];
    const [mine, other] = [randomUUID(), randomUUID()];
    await worker.publishStatus(started(mine));
    const heard: StatusMessage[] = [];
    const watch = await api.watchStatuses(mine, (status) => heard.push(status));
    await worker.publishStatus(started(other));
    const outcome = succeeded(mine, 'hello');
    await worker.publishStatus(outcome);
    await eventually(() => heard.length >= 1, 'status heard');
    await sleep(100);
    assert.equal(heard, [outcome]);

    await watch.close();
    await worker.publishStatus(failed(mine));
    await sleep(200);
    assert.is(heard.length, 1, 'nothing heard after close');
  });

  test("lastStatus: another process reads the execution's last status from the bus; null for none", async (world) => {
    const [api, worker] = [await world.connect(), await world.connect()];
    const [mine, other] = [randomUUID(), randomUUID()];
    assert.is(await api.lastStatus(mine), null);
    await worker.publishStatus(started(mine));
    await worker.publishStatus(started(other));
    const outcome = succeeded(mine, 'kept');
    await worker.publishStatus(outcome);
    assert.equal(await api.lastStatus(mine), outcome);
    assert.equal((await api.lastStatus(other))?.type, 'started');
    // An attempt after it: its statuses are not taken for the first attempt's repeats.
    const second = { ...failed(mine), attempt: 2 };
    await worker.publishStatus(second);
    assert.equal(await api.lastStatus(mine), second);
  });

  test('each status is handled by exactly one of two status consumers', async (world) => {
    const [worker, apiA, apiB] = [await world.connect(), await world.connect(), await world.connect()];
    const handled: string[] = [];
    const recorder = (bus: JobBus) =>
      bus.consumeStatuses(async (status) => {
        handled.push(`${status.executionId}:${status.type}`);
      });
    const consumers = [recorder(apiA), recorder(apiB)];
    const ids = Array.from({ length: 4 }, () => randomUUID());
    for (const id of ids) {
      await worker.publishStatus(started(id));
      await worker.publishStatus(succeeded(id, 'ok'));
    }
    // A status retried by the worker is recorded once.
    await worker.publishStatus(succeeded(ids[0]!, 'ok'));
    const published = ids.flatMap((id) => [`${id}:started`, `${id}:succeeded`]);
    await eventually(() => handled.length >= published.length, 'all statuses handled');
    await sleep(quietMs);
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    assert.equal([...handled].sort(), [...published].sort());
  });

  test('a status whose handler throws is handled again', async (world) => {
    const bus = await world.connect();
    const id = randomUUID();
    const attempts: string[] = [];
    const consumer = bus.consumeStatuses(async (status) => {
      attempts.push(status.type);
      if (attempts.length === 1) throw new Error('event store unavailable');
    });
    await bus.publishStatus(succeeded(id, 'ok'));
    await eventually(() => attempts.length === 2, 'status handled again');
    await sleep(quietMs);
    await consumer.stop();
    assert.equal(attempts, ['succeeded', 'succeeded']);
  });

  test('megabytes of stdin and stdout travel whole', async (world) => {
    const [api, worker] = [await world.connect(), await world.connect()];
    const job = { ...aJob(), stdin: Buffer.from(bigText(1024 * 1024)).toString('base64') };
    const outcome = { ...succeeded(job.executionId, bigText(2 * 1024 * 1024)), stderr: bigText(512 * 1024) };
    const got: { job?: Job; heard?: StatusMessage; recorded?: StatusMessage } = {};
    const jobs = worker.consumeJobs(async (delivery) => {
      got.job = delivery.job;
      await delivery.ack();
    }, { concurrency: 1 });
    const watch = await api.watchStatuses(job.executionId, (status) => (got.heard = status));
    const statuses = api.consumeStatuses(async (status) => {
      got.recorded = status;
    });
    await api.publishJob(job);
    await eventually(() => got.job !== undefined, 'big job delivered');
    await worker.publishStatus(outcome);
    await eventually(() => got.heard !== undefined && got.recorded !== undefined, 'big status heard and recorded');
    await Promise.all([jobs.stop(), statuses.stop(), watch.close()]);
    assert.equal(got.job, job);
    assert.equal(got.heard, outcome);
    assert.equal(got.recorded, outcome);
  });

  test('pendingJobs counts published jobs no worker has taken', async (world) => {
    const bus = await world.connect();
    assert.is(await bus.pendingJobs(), 0);
    for (let i = 0; i < 3; i++) await bus.publishJob(aJob());
    assert.is(await bus.pendingJobs(), 3);
    let taken = 0;
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const consumer = bus.consumeJobs(async (delivery) => {
      taken++;
      await gate;
      await delivery.ack();
    }, { concurrency: 1 });
    await eventually(() => taken === 1, 'one job taken');
    assert.is(await bus.pendingJobs(), 2);
    letGo();
    await eventually(() => taken === 3, 'every job taken');
    assert.is(await bus.pendingJobs(), 0);
    await consumer.stop();
  });

  test('worker reports: another process lists each worker\'s last report, the next replacing the one before', async (world) => {
    const [api, workerA, workerB] = [await world.connect(), await world.connect(), await world.connect()];
    assert.equal(await api.listWorkerReports(), []);
    const first = aReport('worker-a', { inFlight: 1 });
    await workerA.publishWorkerReport(first);
    assert.equal(await api.listWorkerReports(), [first]);

    const next = aReport('worker-a', { inFlight: 3, prestarted: { [randomUUID()]: { ready: 2, starting: 0, minWarm: 2 } } });
    await workerA.publishWorkerReport(next);
    const other = aReport('worker-b.example.com.', { reused: { [randomUUID()]: { idle: 1, busy: 1 } } });
    await workerB.publishWorkerReport(other);
    const listed = await api.listWorkerReports();
    assert.equal(byWorker(listed), [next, other], 'one report per worker, the last');
  });

  test("worker reports: a worker's stop report replaces its running one", async (world) => {
    const [api, worker] = [await world.connect(), await world.connect()];
    await worker.publishWorkerReport(aReport('worker-a', { inFlight: 2 }));
    await worker.publishWorkerReport(aReport('worker-a', { state: 'stopping', inFlight: 1 }));
    const last = aReport('worker-a', { state: 'stopped', inFlight: 0 });
    await worker.publishWorkerReport(last);
    assert.equal(await api.listWorkerReports(), [last]);
  });

  test('worker reports: one not replaced in time expires by itself; one renewed stays', async (world) => {
    const [api, silent, alive] = [await world.connect(), await world.connect(), await world.connect()];
    await silent.publishWorkerReport(aReport('silent'));
    await alive.publishWorkerReport(aReport('alive'));
    assert.equal((await api.listWorkerReports()).map((report) => report.workerId).sort(), ['alive', 'silent']);
    const renewing = setInterval(() => void alive.publishWorkerReport(aReport('alive')).catch(() => {}), workerReportsKeptMs / 4);
    try {
      await eventually(async () => !(await api.listWorkerReports()).some((report) => report.workerId === 'silent'), 'the silent worker dropped', 4 * workerReportsKeptMs);
      assert.equal((await api.listWorkerReports()).map((report) => report.workerId), ['alive']);
    } finally {
      clearInterval(renewing);
    }
  });

  if (!separateServer) {
    contract.run();
    return;
  }

  test('a job published before any worker runs, and across a broker restart, is delivered', async (world) => {
    const api = await world.connect();
    const job = aJob();
    await api.publishJob(job);
    await api.close();
    await world.server!.restart();
    const worker = await world.connect();
    const received: Job[] = [];
    const consumer = worker.consumeJobs(async (delivery) => {
      received.push(delivery.job);
      await delivery.ack();
    }, { concurrency: 1 });
    await eventually(() => received.length === 1, 'job delivered after the restart');
    await consumer.stop();
    assert.equal(received, [job]);
  });

  test('a status consumer started later gets the statuses published before', async (world) => {
    const worker = await world.connect();
    const id = randomUUID();
    await worker.publishStatus(started(id));
    await worker.publishStatus(succeeded(id, 'done'));
    const api = await world.connect();
    const handled: string[] = [];
    const consumer = api.consumeStatuses(async (status) => {
      handled.push(status.type);
    });
    await eventually(() => handled.length === 2, 'earlier statuses handled');
    await consumer.stop();
    assert.equal(handled, ['started', 'succeeded']);
  });

  test('publishing while NATS is down fails with BusUnavailableError', async (world) => {
    const bus = await world.connect();
    await world.server!.stop();
    let error: unknown = null;
    const startedAt = Date.now();
    try {
      await bus.publishJob(aJob());
    } catch (caught) {
      error = caught;
    }
    assert.instance(error, BusUnavailableError);
    // Well before the 5 s publish timeout: a dropped connection fails the publish at once.
    assert.ok(Date.now() - startedAt < 3_000, `failed after ${Date.now() - startedAt} ms`);
    error = null;
    await bus.publishStatus(started(randomUUID())).catch((caught: unknown) => (error = caught));
    assert.instance(error, BusUnavailableError);
    // A worker skips that report; an api answers 503.
    for (const call of [() => bus.publishWorkerReport(aReport('worker-a')), () => bus.listWorkerReports()]) {
      error = null;
      await call().catch((caught: unknown) => (error = caught));
      assert.instance(error, BusUnavailableError);
    }
  });

  contract.run();
}

function aJob(): Job {
  const executionId = randomUUID();
  return {
    executionId,
    functionId: randomUUID(),
    ownerId: randomUUID(),
    image: 'docker.io/library/alpine:3.20',
    command: ['cat'],
    env: { GREETING: 'hello' },
    timeoutMs: 5_000,
    memoryMb: 128,
    stdin: Buffer.from('input').toString('base64'),
    deadline: new Date(Date.now() + 60_000).toISOString(),
    correlationId: randomUUID(),
  };
}

const at = () => new Date().toISOString();
const started = (executionId: string): StatusMessage => ({ type: 'started', executionId, at: at(), workerId: 'worker-1', containerId: 'c0ffee' });
const succeeded = (executionId: string, stdout: string): StatusMessage & { type: 'succeeded' } => ({
  type: 'succeeded',
  executionId,
  at: at(),
  exitCode: 0,
  stdout,
  stderr: '',
  truncated: false,
  durationMs: 12,
});
const failed = (executionId: string): StatusMessage => ({ type: 'failed', executionId, at: at(), reason: 'image not found' });

/** Varied text, so a truncated or shuffled copy cannot compare equal. */
const bigText = (length: number) => {
  const line = 'the quick brown fox jumps over the lazy dog 0123456789\n';
  let text = '';
  for (let i = 0; text.length < length; i++) text += `${i} ${line}`;
  return text.slice(0, length);
};

function aReport(workerId: string, changes: Partial<WorkerReport> = {}): WorkerReport {
  return {
    workerId,
    state: 'running',
    startedAt: '2025-01-01T00:00:00.000Z',
    reportedAt: at(),
    intervalMs: 5_000,
    concurrency: 4,
    inFlight: 0,
    prestarted: {},
    reused: {},
    engineReachable: true,
    disk: { usedPercent: 41.5, usedBytes: 41_500, totalBytes: 100_000, measuredAt: at(), highWater: 85, lowWater: 70 },
    lastPrunes: [
      { at: at(), reason: 'pull ran out of disk space', outcome: 'nothing-pruned', imagesRemoved: 0, images: [], bytesReclaimed: 0, freedBytes: null },
    ],
    ...changes,
  };
}

const byWorker = (reports: WorkerReport[]) => [...reports].sort((a, b) => a.workerId.localeCompare(b.workerId));

/** A worker's warm set that never changes. */
const fixedWarm = (functionIds: string[]): WarmFunctions => ({ has: (id) => functionIds.includes(id), list: () => functionIds, onChange: () => () => {} });

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000) {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
}

