/**
 * A worker SIGKILLed while it runs executions, ten times and more. Delivery is at most once
 * (user code never runs twice): the job was claimed and acked around its container's start, so
 * nobody runs it again. What must hold instead: the execution still ends (the restarted worker's reaper reports
 * it lost, or the api's deadline sweeper times it out) within its timeout plus the grace, its
 * user's slot is free again, and its container does not outlive the restart of its worker.
 */
import { join } from 'node:path';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../../src/adapters/sqlite/better-sqlite3-driver.ts';
import { executionStream } from '../../src/domain/streams.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import { WORKER_LOST_REASON } from '../../worker/worker.ts';
import { createFunction, signUp } from '../support/api.ts';
import { call } from '../support/http-client.ts';
import type { ServerProcess } from '../support/server-process.ts';
import { type Cluster, startCluster } from './support/cluster.ts';
import { reportFigure } from './support/report.ts';
import { eventually } from '../support/eventually.ts';
import { type ExecutionContainer, executionContainers } from '../support/execution-containers.ts';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });

const TIMEOUT_MS = 3_000;
/**
 * Also the time a queued execution has to start before the sweeper fails it: on a loaded engine
 * a container can take several seconds to create and start, and an execution swept before it
 * runs would never give this test a worker to kill.
 */
const GRACE_MS = 10_000;
/** The deadline sweeper's 1 s period, the projections' 250 ms polling, and a loaded machine. */
const SWEEP_ALLOWANCE_MS = 3_000;
/** From the ExecutionQueued event to the terminal event, as the store recorded them. */
const TERMINAL_WITHIN_MS = TIMEOUT_MS + GRACE_MS + SWEEP_ALLOWANCE_MS;
const CONCURRENCY = 2;
/** Two workers of CONCURRENCY slots, one execution per user: every round fills both workers. */
const USERS = 2 * CONCURRENCY;
const KILLS = 10;
const MAX_ROUNDS = 8;

type User = { token: string; sleeper: string; echo: string };
type InFlight = { executionId: string; user: User };
type Ending = { executionId: string; status: string; reason: string | null };

async function newUser(url: string, image: string): Promise<User> {
  const { token } = await signUp(url, { tag: 'worker-crash' });
  const create = async (name: string, command: string[], timeoutMs: number) => (await createFunction(url, token, { name, image, command, timeoutMs })).id;
  // Sleeps far past its timeout: only a kill ends it, and its worker is the one killed.
  return { token, sleeper: await create('sleeper', ['sleep', '60'], TIMEOUT_MS), echo: await create('echo', ['echo', 'slot free'], 10_000) };
}

async function submitSleeper(url: string, user: User): Promise<InFlight> {
  const queued = await call(url, 'POST', `/v1/functions/${user.sleeper}/executions?wait=false`, { token: user.token });
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  return { executionId: queued.body.executionId as string, user };
}

const executionState = async (url: string, { executionId, user }: InFlight) =>
  (await call(url, 'GET', `/v1/executions/${executionId}`, { token: user.token })).body as { status: string; reason: string | null };

const untilRunning = (url: string, execution: InFlight) =>
  eventually(`${execution.executionId} running`, 20_000, async () => ((await executionState(url, execution)).status === 'running' ? true : undefined));

async function untilTerminal(url: string, execution: InFlight): Promise<Ending> {
  return eventually(`${execution.executionId} terminal`, TERMINAL_WITHIN_MS + 20_000, async () => {
    const state = await executionState(url, execution);
    if (state.status === 'queued' || state.status === 'running') return undefined;
    return { executionId: execution.executionId, status: state.status, reason: state.reason };
  });
}

const TERMINAL_EVENTS = ['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionTimedOut'];

/**
 * How long after it was queued the store recorded the execution's end: the platform's own
 * timing, without the delay of our polling or of a loaded test process.
 */
async function msFromQueuedToTerminal(store: EventStore, executionId: string): Promise<number> {
  const events = await store.readStream(executionStream(executionId));
  const queued = events.find((event) => event.type === 'ExecutionQueued');
  const terminal = events.find((event) => TERMINAL_EVENTS.includes(event.type));
  if (!queued || !terminal) throw new Error(`${executionId}: no queued or no terminal event in ${events.map((event) => event.type).join(', ')}`);
  return Date.parse(terminal.recordedAt) - Date.parse(queued.recordedAt);
}

/** The containers of these executions, whatever their state: other suites share the engine. */
async function containersOf(executionIds: readonly string[]): Promise<ExecutionContainer[]> {
  return (await executionContainers(docker)).filter((container) => executionIds.includes(container.executionId));
}

const jobsReceived = (worker: ServerProcess, executionIds: readonly string[]) =>
  worker.output.filter((line) => line.includes('"message":"job received"') && executionIds.some((id) => line.includes(id)));

const test = suite('worker crash [SIGKILL mid-execution, restarted with the same id]');

test('every execution of a killed worker ends within timeout + grace, frees its slot and loses its container', async () => {
  let cluster: Cluster | undefined;
  let store: EventStore | undefined;
  const everyExecution: string[] = [];
  try {
    cluster = await startCluster({
      // One slot per user: a new execution of the user is accepted only once the lost one let go of it.
      env: { FAASBOX_MAX_ACTIVE_PER_USER: '1', FAASBOX_EXECUTION_GRACE_MS: String(GRACE_MS) },
      // A failed run stops at once instead of draining its sleepers for the default 30 s.
      workerEnv: { FAASBOX_WORKER_CONCURRENCY: String(CONCURRENCY), FAASBOX_DRAIN_TIMEOUT: '2000' },
    });
    const c = cluster;
    // A reader of the cluster's store, beside its processes, as SQLite allows.
    store = createSqliteEventStore(openBetterSqlite3(join(c.dataDir, 'events.sqlite')));
    const events = store;
    const apiUrl = (i: number) => c.apis[i % c.apis.length]!.url;
    const users = await Promise.all(Array.from({ length: USERS }, (_, i) => newUser(apiUrl(i), c.images.busybox)));

    let kills = 0;
    let rounds = 0;
    const endings: (Ending & { afterMs: number })[] = [];
    let containersLeftAtKill = 0;
    let containersReaped = 0;
    let slotsReused = 0;
    while (kills < KILLS) {
      assert.ok(++rounds <= MAX_ROUNDS, `only ${kills} kills in ${MAX_ROUNDS} rounds: the executions did not reach the workers`);
      const inFlight = await Promise.all(users.map((user, i) => submitSleeper(apiUrl(i), user)));
      const ids = inFlight.map((execution) => execution.executionId);
      everyExecution.push(...ids);
      await Promise.all(inFlight.map((execution, i) => untilRunning(apiUrl(i), execution)));

      // Kill exactly the workers whose containers run these executions.
      const holders = new Set((await containersOf(ids)).map((container) => container.workerId));
      const victims = c.workers.filter((worker) => holders.has(c.workerIdOf(worker)));
      assert.ok(victims.length > 0, `no worker of the cluster holds ${ids.join(', ')}`);
      await Promise.all(victims.map((worker) => worker.kill()));
      kills += victims.length;
      // Still there and running with nobody to stop them: what the restart must clean up.
      const left = await containersOf(ids);
      assert.is(left.length, ids.length, JSON.stringify(left.map((container) => container.Labels)));
      containersLeftAtKill += left.length;

      const restarted = await Promise.all(victims.map((worker) => c.restartWorker(worker)));
      const ended = await Promise.all(
        inFlight.map(async (execution, i) => {
          const ending = await untilTerminal(apiUrl(i + 1), execution);
          return { ...ending, afterMs: await msFromQueuedToTerminal(events, execution.executionId) };
        }),
      );
      endings.push(...ended);
      for (const ending of ended) {
        const lost = ending.status === 'failed' && ending.reason === WORKER_LOST_REASON;
        assert.ok(lost || ending.status === 'timedOut', `ended as neither lost nor timed out: ${JSON.stringify(ending)}`);
        assert.ok(ending.afterMs <= TERMINAL_WITHIN_MS, `${ending.executionId} ended ${ending.afterMs} ms after it was queued (limit ${TERMINAL_WITHIN_MS})`);
      }
      // The default housekeeping period is 30 s: only the restarted worker's pass at start is this quick.
      await eventually('the killed workers’ containers are removed', 10_000, async () => ((await containersOf(ids)).length === 0 ? true : undefined));
      containersReaped += ids.length;
      // At most once: no restarted worker was handed one of these jobs again.
      for (const worker of restarted) assert.equal(jobsReceived(worker, ids), [], 'a job of a killed worker was delivered again');

      const reruns = await Promise.all(users.map((user, i) => call(apiUrl(i + 1), 'POST', `/v1/functions/${user.echo}/executions`, { token: user.token })));
      for (const rerun of reruns) {
        assert.is(rerun.status, 200, `the user's only slot is still taken: ${JSON.stringify(rerun.body)}`);
        assert.is(rerun.body.status, 'succeeded', JSON.stringify(rerun.body));
        assert.is(rerun.body.stdout, 'slot free\n');
      }
      slotsReused += reruns.length;
    }

    reportFigure('worker-crash', {
      workersKilled: kills,
      rounds,
      executionsCaughtByKill: endings.length,
      endedLostByReaper: endings.filter((ending) => ending.status === 'failed').length,
      endedTimedOutBySweeper: endings.filter((ending) => ending.status === 'timedOut').length,
      worstMsFromQueuedToTerminal: Math.max(...endings.map((ending) => ending.afterMs)),
      limitMs: TERMINAL_WITHIN_MS,
      containersLeftAtKill,
      containersReaped,
      slotsReusedAfterCrash: slotsReused,
    });
  } finally {
    try {
      await store?.close().catch(() => undefined);
      await cluster?.stop();
    } finally {
      // Whatever failed above, nothing of this suite keeps running on the shared engine.
      const leftovers = await containersOf(everyExecution);
      await Promise.all(leftovers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => {})));
    }
  }
});

test.run();
