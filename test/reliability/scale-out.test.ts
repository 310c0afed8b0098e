/**
 * Faasbox scaled out as deploy/README.md ("Scale-out") lays it out, on loopback: a three-node
 * NATS JetStream cluster with every stream and the bucket on three replicas, two apis over one
 * event store (each with its own read models, as support/cluster.ts runs them), and two workers,
 * each driving its own Docker engine (test-owned dockerds, support/stoppable-docker.ts) that pulls
 * from a loopback registry. Two clients, one per api, stream submissions (in turn synchronous and
 * `?wait=false`), each with its own Idempotency-Key and retried with it on a network error or a
 * 5xx other than 504. Meanwhile one fault after another takes away one of several: each NATS
 * node in turn is SIGKILLed and restarted; then a worker running an execution is SIGKILLed and
 * restarted; then a Docker engine running one is stopped and started again. The function asks
 * for retries of its asynchronous executions (src/domain/retries.ts); an api that refuses the
 * field gets the function without it, and the suite says so loudly.
 *
 * What must hold: no acknowledged submission is lost, every asynchronous one ends within a bound,
 * and no execution runs twice for one attempt, counted three ways: `ExecutionStarted` events in
 * the log, the containers both engines made for it (their own event streams), and the workers'
 * "execution started" lines. An execution caught on the killed worker or the stopped engine may
 * fail; that is counted, with the time until submissions succeeded again after each fault.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_WORKER_REASON } from '../../actors/execution.ts';
import { createSqliteEventStore } from '../../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../../src/adapters/sqlite/better-sqlite3-driver.ts';
import { executionStream } from '../../src/domain/streams.ts';
import { createFunction, signUp } from '../support/api.ts';
import { executionContainers } from '../support/execution-containers.ts';
import { call } from '../support/http-client.ts';
import { type NatsCluster, startNatsCluster } from '../support/nats-cluster.ts';
import { type Registry, startRegistry } from '../support/registry.ts';
import { type ServerProcess, startServer, tempDir } from '../support/server-process.ts';
import { ensureTestImages } from '../support/test-images.ts';
import { replicatedEnv } from './support/cluster.ts';
import { type ExecutionContainerRecorder, recordExecutionContainers } from './support/execution-container-events.ts';
import { reportFigure } from './support/report.ts';
import {
  type Outcome,
  type Pacing,
  type Submission,
  type User,
  acknowledged,
  awaitOutcomes,
  countBy,
  lastReply,
  submitUntil,
  succeeded,
} from './support/retried-submissions.ts';
import { type StoppableDocker, startStoppableDocker } from './support/stoppable-docker.ts';
import { workerCounts } from './support/worker-log.ts';

const TIMEOUT_MS = 5_000;
const GRACE_MS = 10_000;
/** Long enough that a fault finds executions running, short enough to keep both engines busy but not swamped. */
const COMMAND = ['sh', '-c', 'sleep 1; cat'];
/** The function's retry policy, asked for if the api knows retries (src/domain/retries.ts). */
const RETRY = { maxAttempts: 3, backoff: { initialMs: 200, maxMs: 2_000 } };
const PACING: Pacing = { retryWindowMs: 20_000, retryPauseMs: 250, attemptTimeoutMs: TIMEOUT_MS + GRACE_MS + 10_000, pauseMs: 250 };
/** One per api. */
const CLIENTS = 2;
/** Submissions run this long before each fault, and after the last one. */
const UP_MS = 2_000;
const NATS_DOWN_MS = 2_000;
const WORKER_DOWN_MS = 3_000;
const ENGINE_DOWN_MS = 4_000;
/** How long to look for a worker with an execution running before a fault, so that the fault catches one. */
const PICK_WITHIN_MS = 5_000;
/** After a fault is repaired, how long submissions may take to be acknowledged again before the suite fails. */
const RECOVERY_LIMIT_MS = 30_000;
/** The deadline sweeper's 1 s period and a loaded machine. */
const SWEEP_ALLOWANCE_MS = 3_000;
const TERMINAL_EVENTS = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionTimedOut']);

type Worker = { id: string; engine: StoppableDocker; process: ServerProcess };
type Fault = { name: string; at: number; repairedAt: number; workerId: string | null; recovered: boolean };
/** What the event log says of one execution. */
type Logged = {
  /** Its `ExecutionStarted` events. */
  starts: { workerId: string; attempt: number; at: number }[];
  attempts: number;
  /** When the store recorded the first outcome of the last attempt. */
  endedAt: number | null;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const attemptOf = (data: unknown) => {
  const attempt = (data as { attempt?: unknown }).attempt;
  return typeof attempt === 'number' && Number.isSafeInteger(attempt) && attempt > 1 ? attempt : 1;
};

async function pull(docker: Docker, image: string): Promise<void> {
  const progress = await docker.pull(image);
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())));
}

/** Waits for all, so that whatever started is known to the teardown, then fails with the first failure. */
async function allStarted(starting: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(starting)).find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The worker among these whose engine runs an execution now, so that a fault on it catches one; the first if none does within PICK_WITHIN_MS. */
async function workerRunningAnExecution(workers: readonly Worker[]): Promise<Worker> {
  const giveUpAt = Date.now() + PICK_WITHIN_MS;
  for (;;) {
    for (const worker of workers) {
      const containers = await executionContainers(worker.engine.docker).catch(() => []);
      if (containers.some((container) => container.State === 'running')) return worker;
    }
    if (Date.now() > giveUpAt) return workers[0]!;
    await sleep(50);
  }
}

async function readLog(dataDir: string, executionIds: Iterable<string>): Promise<Map<string, Logged>> {
  const store = createSqliteEventStore(openBetterSqlite3(join(dataDir, 'events.sqlite')));
  const logged = new Map<string, Logged>();
  try {
    for (const executionId of executionIds) {
      const events = await store.readStream(executionStream(executionId));
      const attempts = Math.max(1, ...events.map((event) => attemptOf(event.data)));
      const starts = events
        .filter((event) => event.type === 'ExecutionStarted')
        .map((event) => ({ workerId: (event.data as { workerId: string }).workerId, attempt: attemptOf(event.data), at: Date.parse(event.recordedAt) }));
      const ending = events.find((event) => TERMINAL_EVENTS.has(event.type) && attemptOf(event.data) === attempts);
      logged.set(executionId, { starts, attempts, endedAt: ending ? Date.parse(ending.recordedAt) : null });
    }
  } finally {
    await store.close();
  }
  return logged;
}

const test = suite('scale-out [3 NATS nodes, 2 apis, 2 workers on 2 engines: node, worker and engine faults under retried submissions]');

test('no acknowledged submission is lost and none runs twice while a NATS node, a worker and an engine fail in turn', async () => {
  const teardown: (() => Promise<unknown>)[] = [];
  const clients: Promise<void>[] = [];
  let stopSubmitting = true;
  try {
    const registry: Registry = await startRegistry();
    teardown.push(() => registry.stop());
    let nats: NatsCluster | undefined;
    const engines: StoppableDocker[] = [];
    const imagesBuilt = ensureTestImages(registry.address);
    await allStarted([
      imagesBuilt,
      startNatsCluster().then((started) => {
        nats = started;
        teardown.push(() => started.stop());
      }),
      ...[1, 2].map(() =>
        startStoppableDocker().then((engine) => {
          engines.push(engine);
          teardown.push(() => engine.destroy());
        }),
      ),
    ]);
    const images = await imagesBuilt;
    const cluster = nats!;
    // Loaded before the clients start, so that a first run does not wait for a pull.
    await Promise.all(engines.map((engine) => pull(engine.docker, images.busybox)));
    const recorders: ExecutionContainerRecorder[] = engines.map((engine) => recordExecutionContainers(engine.docker));
    teardown.push(() => Promise.all(recorders.map((recorder) => recorder.stop())));

    const dataDir = tempDir('faasbox-scale-out-');
    teardown.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const processes: ServerProcess[] = [];
    teardown.push(() => Promise.all(processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.stop())));
    const env = replicatedEnv(cluster, GRACE_MS);
    const started = async (starting: Promise<ServerProcess>) => {
      const server = await starting;
      processes.push(server);
      return server;
    };
    const startApi = (n: number) => started(startServer({ role: 'api', dataDir, env: { ...env, FAASBOX_PROJECTIONS_PATH: join(dataDir, `api-${n}`, 'projections.sqlite') } }));
    const startWorker = async (id: string, engine: StoppableDocker): Promise<Worker> => ({
      id,
      engine,
      process: await started(
        startServer({
          role: 'worker',
          dataDir,
          env: { ...env, DOCKER_HOST: engine.dockerHost, FAASBOX_WORKER_ID: id, FAASBOX_WORKER_CONCURRENCY: '4', FAASBOX_DRAIN_TIMEOUT: '2000' },
        }),
      ),
    });
    // One process makes the streams on three replicas before the others look for them.
    const apis = [await startApi(1)];
    const workers: Worker[] = [];
    await allStarted([
      startApi(2).then((api) => apis.push(api)),
      ...engines.map((engine, i) => startWorker(`reliability-${process.pid}-scale-out-${i + 1}`, engine).then((worker) => workers.push(worker))),
    ]);

    const { token } = await signUp(apis[0]!.url, { tag: 'scale-out' });
    const spec = { name: 'echo-slowly', image: images.busybox, command: COMMAND, timeoutMs: TIMEOUT_MS };
    const withRetry = await call(apis[0]!.url, 'POST', '/v1/functions', { token, json: { ...spec, retry: RETRY } });
    const retries = withRetry.status === 201;
    if (!retries) {
      assert.is(withRetry.status, 400, `POST /v1/functions with retry: ${JSON.stringify(withRetry.body)}`);
      console.warn(`\n  !!! scale-out: the api refused the function's retry policy (400: ${JSON.stringify(withRetry.body?.detail)}).\n  !!! Retries are not available: every execution has one attempt, and nothing below is retried by the platform.\n`);
    }
    const functionId = retries ? (withRetry.body.id as string) : (await createFunction(apis[0]!.url, token, spec)).id;
    const user: User = { token, functionId };

    const submissions: Submission[] = [];
    const current: Submission[] = [];
    let counter = 0;
    stopSubmitting = false;
    for (let i = 0; i < CLIENTS; i++) {
      clients.push(submitUntil(() => stopSubmitting, apis[i % apis.length]!.url, user, () => counter++, submissions, current, PACING));
    }
    const allAttempts = () => submissions.concat(current).flatMap((submission) => submission.attempts);
    /** From `at` to the first answer that runs (or ran) the function, of an attempt sent after it; null: none yet. */
    const acknowledgedAfter = (at: number) => {
      const times = allAttempts().filter((attempt) => attempt.sentAt >= at && attempt.answeredAt > 0 && succeeded(attempt)).map((attempt) => attempt.answeredAt - at);
      return times.length > 0 ? Math.min(...times) : null;
    };
    const faults: Fault[] = [];
    /** A fault, its repair, and the wait (RECOVERY_LIMIT_MS at most) until a submission sent after the fault began is acknowledged again. */
    const inject = async (name: string, workerId: string | null, fail: () => Promise<void>, downMs: number, repair: () => Promise<void>) => {
      const at = Date.now();
      await fail();
      await sleep(downMs);
      await repair();
      const repairedAt = Date.now();
      const giveUpAt = repairedAt + RECOVERY_LIMIT_MS;
      while (acknowledgedAfter(at) === null && Date.now() < giveUpAt) await sleep(100);
      faults.push({ name, at, repairedAt, workerId, recovered: acknowledgedAfter(at) !== null });
    };

    for (let node = 0; node < cluster.urls.length; node++) {
      await sleep(UP_MS);
      await inject(`nats node ${node + 1} SIGKILL`, null, () => cluster.kill(node), NATS_DOWN_MS, async () => {
        await cluster.restart(node);
        await cluster.untilWhole();
      });
    }
    await sleep(UP_MS);
    const killed = await workerRunningAnExecution(workers);
    await inject(`worker ${killed.id} SIGKILL`, killed.id, () => killed.process.kill(), WORKER_DOWN_MS, async () => {
      // The same id on the same engine, as a supervisor restarts it: its reaper ends what the dead one left.
      workers[workers.indexOf(killed)] = await startWorker(killed.id, killed.engine);
    });
    await sleep(UP_MS);
    // The other worker's engine: it has run on through the kill and holds the warm containers, so
    // it takes most of the jobs (a job goes to a warm worker first).
    const stopped = await workerRunningAnExecution(workers.filter(({ id }) => id !== killed.id));
    await inject(`engine of ${stopped.id} stopped`, stopped.id, () => stopped.engine.stopEngine('SIGTERM'), ENGINE_DOWN_MS, () => stopped.engine.startEngine());
    await sleep(UP_MS);
    stopSubmitting = true;
    await Promise.all(clients);
    const lastSubmittedAt = Date.now();

    const accepted = submissions.filter(acknowledged).map((submission) => ({
      ...submission,
      executionId: lastReply(submission)!.body.executionId as string,
      acknowledgedAt: submission.attempts.at(-1)!.answeredAt,
    }));
    const executionIds = accepted.map(({ executionId }) => executionId);
    /** An attempt may wait for its deadline, then back off before the next. */
    const terminalWithinMs = (retries ? RETRY.maxAttempts : 1) * (TIMEOUT_MS + GRACE_MS + SWEEP_ALLOWANCE_MS) + (retries ? (RETRY.maxAttempts - 1) * RETRY.backoff.maxMs : 0);
    const final = await awaitOutcomes(apis[0]!.url, token, executionIds, lastSubmittedAt + terminalWithinMs);

    // Every execution of the function, retried or refused ones included, is looked up in the log.
    const history = await call(apis[0]!.url, 'GET', `/v1/functions/${functionId}/executions?limit=1000`, { token });
    const everyExecution = new Set([...executionIds, ...(history.body.executions as { executionId: string }[]).map((e) => e.executionId)]);
    // A job offered again after a failover could still start until the deadline of its attempt,
    // and the last attempt of an execution was queued before its outcome: runs are counted once
    // every outcome is a deadline old.
    const lastEndedAt = Math.max(lastSubmittedAt, ...[...(await readLog(dataDir, everyExecution)).values()].map(({ endedAt }) => endedAt ?? 0));
    await sleep(Math.max(0, lastEndedAt + TIMEOUT_MS + GRACE_MS - Date.now()));
    await Promise.all(recorders.map((recorder) => recorder.stop()));
    const logged = await readLog(dataDir, everyExecution);

    const attemptsOf = (executionId: string) => Math.max(logged.get(executionId)?.attempts ?? 1, final.get(executionId)?.attempt ?? 1);
    const ranTwiceInLog = [...logged].flatMap(([executionId, { starts }]) =>
      Object.entries(countBy(starts, ({ attempt }) => String(attempt)))
        .filter(([, count]) => count > 1)
        .map(([attempt, count]) => `${executionId} attempt ${attempt}: ${count} ExecutionStarted`),
    );
    const containerEvents = recorders.flatMap((recorder) => recorder.events());
    const ranTwiceByContainers = Object.entries(countBy(containerEvents, ({ executionId, attempt }) => `${executionId} attempt ${attempt}`))
      .filter(([, containers]) => containers > 1)
      .map(([run, containers]) => `${run}: ${containers} containers`);
    // Every worker process, the killed one included: its lines up to the kill are kept.
    const { started: startedInWorkerLog } = workerCounts(processes);
    const ranTwiceByWorkerLog = [...startedInWorkerLog]
      .filter(([executionId, runs]) => runs > attemptsOf(executionId))
      .map(([executionId, runs]) => `${executionId}: ${runs} starts for ${attemptsOf(executionId)} attempt(s)`);
    const withContainer = new Set(containerEvents.map(({ executionId }) => executionId));
    const startedWithoutContainerEvent = [...logged].filter(([executionId, { starts }]) => starts.length > 0 && !withContainer.has(executionId)).map(([id]) => id);

    const lost = accepted.filter(({ executionId }) => final.get(executionId) == null);
    const asyncUnfinished = accepted.filter(({ kind, executionId }) => kind === 'async' && final.get(executionId) == null);
    const asyncLate = accepted.filter(({ kind, executionId, acknowledgedAt }) => {
      const endedAt = logged.get(executionId)?.endedAt;
      return kind === 'async' && endedAt != null && endedAt - acknowledgedAt > terminalWithinMs;
    });
    const wrongOutput = accepted.filter(({ executionId, body }) => final.get(executionId)?.status === 'succeeded' && final.get(executionId)?.stdout !== body);
    const outcomes = [...final.values()].flatMap((outcome) => outcome ?? []);
    const retried = submissions.filter((submission) => submission.attempts.length > 1);

    /** The fault an execution met: the last one that began before it ended. */
    const faultMetBy = (executionId: string) => {
      const endedAt = logged.get(executionId)?.endedAt ?? Infinity;
      return faults.filter(({ at }) => at <= endedAt).at(-1)?.name ?? 'before any fault';
    };
    const notSucceeded = accepted.filter(({ executionId }) => final.get(executionId) != null && final.get(executionId)!.status !== 'succeeded');
    /** After each fault: first the function succeeding again for a submission sent after it, then on the worker the fault hit, from the log. */
    const faultFigures = faults.map(({ name, at, repairedAt, workerId }) => {
      const successes = accepted.filter(({ attempts, executionId }) => attempts[0]!.sentAt >= at && final.get(executionId)?.status === 'succeeded');
      const endings = successes.map(({ executionId }) => logged.get(executionId)?.endedAt ?? Infinity);
      const onItsWorker = successes
        .filter(({ executionId }) => logged.get(executionId)?.starts.some((start) => start.workerId === workerId && start.at >= repairedAt))
        .map(({ executionId }) => logged.get(executionId)!.endedAt ?? Infinity);
      return {
        fault: name,
        repairedAfterMs: repairedAt - at,
        firstAcknowledgedAfterMs: acknowledgedAfter(at),
        firstSuccessAfterMs: endings.length > 0 ? Math.min(...endings) - at : null,
        ...(workerId ? { firstSuccessOnItsWorkerAfterRepairMs: onItsWorker.length > 0 ? Math.min(...onItsWorker) - repairedAt : null } : {}),
      };
    });
    const reasonOf = (outcome: Outcome) => `${outcome.status}: ${(outcome.reason ?? 'no reason').replace(/\/\S+/g, '<path>')}`;
    const multiAttempt = accepted.filter(({ executionId }) => attemptsOf(executionId) > 1);
    // Attempts that ended without success and were followed by another, though their code had
    // started (a worker killed mid-run, a start recorded after the deadline): the function ran
    // more than once for one execution, once per attempt.
    const retriedAfterTheirCodeStarted = [...logged].flatMap(([executionId, { starts, attempts }]) =>
      starts.filter(({ attempt }) => attempt < attempts).map(({ attempt }) => `${executionId} attempt ${attempt}`),
    );
    // Recorded as never taken by a worker, yet a worker started it: its statuses reached the log
    // only after its deadline (RELIABILITY.md, nats-cluster).
    const ranButOutcomeMissed = accepted.filter(({ executionId }) => {
      const outcome = final.get(executionId);
      const last = logged.get(executionId);
      return outcome?.reason?.startsWith(NO_WORKER_REASON) && last?.starts.some(({ attempt }) => attempt === last.attempts);
    });
    // A platform failure of an asynchronous execution (a failure with no exit code, a timeout no
    // worker measured) is what a retry policy is for: one left with attempts to spare is counted,
    // not asserted, since which failures are retried is the policy's to say (src/domain/retries.ts).
    const platformFailure = (outcome: Outcome) => (outcome.status === 'failed' && outcome.exitCode == null) || (outcome.status === 'timedOut' && outcome.durationMs == null);
    const asyncPlatformFailuresWithAttemptsLeft = accepted.filter(({ kind, executionId }) => {
      const outcome = final.get(executionId);
      return retries && kind === 'async' && outcome != null && platformFailure(outcome) && attemptsOf(executionId) < RETRY.maxAttempts;
    });

    reportFigure('scale-out', {
      retries,
      faults: faultFigures,
      submissions: submissions.length,
      acknowledged: accepted.length,
      acknowledgedAsync: accepted.filter(({ kind }) => kind === 'async').length,
      acknowledgedSync: accepted.filter(({ kind }) => kind === 'sync').length,
      unanswered: submissions.length - accepted.length,
      outcomes: countBy(outcomes, ({ status }) => status),
      notSucceededByFault: countBy(notSucceeded, ({ kind, executionId }) => `${faultMetBy(executionId)} → ${kind} ${reasonOf(final.get(executionId)!)}`),
      lost: lost.length,
      asyncUnfinished: asyncUnfinished.length,
      asyncLate: asyncLate.length,
      ranButOutcomeMissed: ranButOutcomeMissed.length,
      slowestAsyncToOutcomeMs: Math.max(
        0,
        ...accepted.filter(({ kind }) => kind === 'async').map(({ executionId, acknowledgedAt }) => (logged.get(executionId)?.endedAt ?? acknowledgedAt) - acknowledgedAt),
      ),
      ranTwiceInLog: ranTwiceInLog.length,
      ranTwiceByContainers: ranTwiceByContainers.length,
      ranTwiceByWorkerLog: ranTwiceByWorkerLog.length,
      containers: countBy(containerEvents, ({ how }) => how),
      // Started per the log, yet no engine reported a container for it: a pre-started container
      // taken while its engine stopped runs on (an orderly stop lets it end) but cannot be renamed.
      startedWithoutContainerEvent: startedWithoutContainerEvent.length,
      startsByWorker: countBy([...logged.values()].flatMap(({ starts }) => starts), ({ workerId }) => workerId),
      answers: countBy(
        submissions.flatMap((submission) => submission.attempts),
        ({ reply, error }) => (reply ? String(reply.status) : `network error: ${error}`),
      ),
      clientRetries: submissions.reduce((sum, submission) => sum + submission.attempts.length - 1, 0),
      retriedSubmissions: retried.length,
      clientRetriesThatSucceeded: retried.filter(acknowledged).length,
      replayed: submissions.filter((submission) => lastReply(submission)?.headers.get('idempotent-replayed') === 'true').length,
      ...(retries
        ? {
            executionsWithMoreThanOneAttempt: multiAttempt.length,
            multiAttemptOutcomes: countBy(multiAttempt, ({ executionId }) => final.get(executionId)?.status ?? 'none'),
            retriedAfterTheirCodeStarted: retriedAfterTheirCodeStarted.length,
            asyncPlatformFailuresWithAttemptsLeft: asyncPlatformFailuresWithAttemptsLeft.length,
          }
        : {}),
    });
    if (asyncPlatformFailuresWithAttemptsLeft.length > 0) {
      console.warn(
        `  !!! scale-out: asynchronous executions ended by a platform failure with attempts to spare:\n${asyncPlatformFailuresWithAttemptsLeft
          .map(({ executionId }) => `    ${executionId} after ${attemptsOf(executionId)} attempt(s): ${reasonOf(final.get(executionId)!)}`)
          .join('\n')}`,
      );
    }

    assert.ok(accepted.length > 0, 'nothing was acknowledged');
    assert.ok(
      faults.every(({ recovered }) => recovered),
      `after a fault was repaired, no submission was acknowledged within ${RECOVERY_LIMIT_MS} ms: ${JSON.stringify(faults)}`,
    );
    const traces = processes.flatMap((server) => server.output).filter((line) => lost.some(({ executionId }) => line.includes(executionId)));
    assert.equal(lost.map(({ executionId }) => executionId), [], `acknowledged submissions without an outcome; the processes logged:\n${traces.join('\n')}`);
    assert.equal(asyncUnfinished.map(({ executionId }) => executionId), [], 'asynchronous executions that never finished');
    assert.equal(asyncLate.map(({ executionId }) => executionId), [], `asynchronous executions that took more than ${terminalWithinMs} ms to end`);
    assert.equal(wrongOutput.map(({ executionId }) => executionId), [], "succeeded with another submission's output");
    assert.equal(ranTwiceInLog, [], 'two ExecutionStarted events for one attempt of an execution');
    assert.equal(ranTwiceByContainers, [], 'more containers made for an execution than it had attempts (both engines)');
    assert.equal(ranTwiceByWorkerLog, [], 'more starts of an execution than it had attempts (workers\' logs)');
  } finally {
    stopSubmitting = true;
    await Promise.all(clients);
    // Last acquired, first released; each step whatever became of the others.
    for (const step of teardown.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error('scale-out: a teardown step failed', error);
      }
    }
  }
});

test.run();
