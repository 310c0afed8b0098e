/**
 * The Docker engine under a worker goes away and comes back, again and again: a test-owned
 * second dockerd (support/stoppable-docker.ts) under a real server (role all). Each cycle stops
 * the engine while one execution runs (an orderly stop and a crash in turn), submits executions
 * while it is down, and starts it again. Executions fail with a reason that names the engine,
 * within their timeout and grace; the api stays up; the worker recovers on its own; at the end no
 * execution is left open and no container is left on that engine.
 */
import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Reply, call, uniqueEmail } from '../support/http-client.ts';
import { type Registry, startRegistry } from '../support/registry.ts';
import { type ServerProcess, startServer, tempDir } from '../support/server-process.ts';
import { ensureTestImages } from '../support/test-images.ts';
import { reportFigure } from './support/report.ts';
import { type StoppableDocker, startStoppableDocker } from './support/stoppable-docker.ts';
import { within } from '../support/eventually.ts';
import { executionContainers } from '../support/execution-containers.ts';

const CYCLES = 10;
/** Submitted while the engine is down, besides the one that waits for its answer. */
const QUEUED_WHILE_DOWN = 2;
/** Submitted as the engine is told to stop, so they meet it in any step: create, attach, start, wait. */
const RACING_THE_STOP = 2;
const QUICK_TIMEOUT_MS = 10_000;
const LONG_TIMEOUT_MS = 20_000;
const GRACE_MS = 5_000;
/** On top of timeout and grace, for the answer to travel on a loaded machine. */
const ANSWER_MARGIN_MS = 5_000;
const QUICK_DEADLINE_MS = QUICK_TIMEOUT_MS + GRACE_MS + ANSWER_MARGIN_MS;
const PASSWORD = 'correct horse battery';
/** What the worker says of a step the engine did not answer (worker/docker/failure-reasons.ts). */
const ENGINE_REASON = /^container engine unavailable: /;
const TERMINAL = new Set(['succeeded', 'failed', 'timedOut']);

type Execution = { executionId: string; status: string; reason: string | null; exitCode: number | null; stdout?: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined; fails past `timeoutMs`. */
async function eventually<T>(what: () => string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > giveUpAt) assert.unreachable(`${what()}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

type Session = { url: string; token: string; longFn: string; quickFn: string };

async function newSession(url: string, image: string): Promise<Session> {
  const email = uniqueEmail('outage');
  assert.is((await call(url, 'POST', '/v1/users', { json: { email, password: PASSWORD } })).status, 201);
  const token = (await call(url, 'POST', '/v1/tokens', { json: { email, password: PASSWORD } })).body.token as string;
  const create = async (json: Record<string, unknown>) => {
    const created = await call(url, 'POST', '/v1/functions', { token, json: { image, ...json } });
    assert.is(created.status, 201, JSON.stringify(created.body));
    return created.body.id as string;
  };
  return {
    url,
    token,
    longFn: await create({ name: 'long', command: ['sleep', '60'], timeoutMs: LONG_TIMEOUT_MS }),
    quickFn: await create({ name: 'quick', command: ['cat'], timeoutMs: QUICK_TIMEOUT_MS }),
  };
}

const submit = (session: Session, functionId: string, body: string, wait: boolean): Promise<Reply> =>
  call(session.url, 'POST', `/v1/functions/${functionId}/executions${wait ? '' : '?wait=false'}`, { token: session.token, body });

async function submitQueued(session: Session, functionId: string, body = ''): Promise<string> {
  const queued = await submit(session, functionId, body, false);
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  return queued.body.executionId as string;
}

async function readExecution(session: Session, executionId: string): Promise<Execution> {
  const reply = await call(session.url, 'GET', `/v1/executions/${executionId}`, { token: session.token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body as Execution;
}

const untilStatus = (session: Session, executionId: string, accept: (status: string) => boolean, timeoutMs: number) =>
  eventually(
    () => `execution ${executionId} to leave its state`,
    timeoutMs,
    async () => {
      const execution = await readExecution(session, executionId);
      return accept(execution.status) ? execution : undefined;
    },
  );

/** A platform failure told in one line a user can act on: the engine named, no stack, no exit code. */
function assertEngineFailure(execution: Execution, what: string): void {
  assert.is(execution.status, 'failed', `${what}: ${JSON.stringify(execution)}`);
  assert.match(execution.reason ?? '', ENGINE_REASON, `${what}: ${JSON.stringify(execution)}`);
  assert.not.match(execution.reason ?? '', /\n|\bat .*\.(ts|js):\d+/, `${what}: no stack trace`);
  assert.is(execution.exitCode, null, what);
}

async function assertApiUp(server: ServerProcess): Promise<void> {
  assert.is(server.child.exitCode, null, 'the server process is alive');
  assert.is((await call(server.url, 'GET', '/healthz')).status, 200);
  assert.is((await call(server.url, 'GET', '/readyz')).status, 200);
}

async function pullInto(engine: StoppableDocker, image: string): Promise<void> {
  const progress = await engine.docker.pull(image);
  await new Promise<void>((resolve, reject) =>
    engine.docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** Executions' containers: pre-started ones still waiting in the pool are the worker's, not leftovers. */
const ourContainers = async (engine: StoppableDocker) => executionContainers(engine.docker);

type Figures = {
  cycles: number;
  orderlyStops: number;
  crashes: number;
  runningFailedWithEngineReason: number;
  queuedFailedWithEngineReason: number;
  waitingRequestsAnswered: number;
  racingSucceeded: number;
  racingFailedWithEngineReason: number;
  recoveredExecutions: number;
  slowestRunningFailureMs: number;
  leftoverContainers: number;
  nonTerminal: number;
  /** How many failures said what, paths left out: which step met the outage, in the engine's words. */
  reasons: Record<string, number>;
};

type Outage = { session: Session; engine: StoppableDocker; server: ServerProcess; figures: Figures; executions: string[] };

/** Submitted with the stop under way: each meets the engine in some step (create, attach, start, wait) or finishes first. */
function raceTheStop(outage: Outage, cycle: number, signal: string): Promise<void> {
  const { session, figures } = outage;
  const one = async (n: number) => {
    const reply = await within(submit(session, session.quickFn, `racing ${n}`, true), QUICK_DEADLINE_MS, `cycle ${cycle}: an execution racing the stop`);
    assert.is(reply.status, 200, JSON.stringify(reply.body));
    outage.executions.push(reply.body.executionId as string);
    const execution = reply.body as Execution;
    // Done before the engine went, or failed because of it: nothing else.
    if (execution.status === 'succeeded') figures.racingSucceeded++;
    else {
      assertEngineFailure(execution, `cycle ${cycle}: submitted as the engine stopped (${signal})`);
      figures.racingFailedWithEngineReason++;
    }
  };
  return Promise.all(Array.from({ length: RACING_THE_STOP }, (_, n) => one(n))).then(() => {});
}

/** Submitted once the engine is gone: each fails fast with the engine named, whether its caller waits or polls. */
async function submitWhileDown(outage: Outage, cycle: number): Promise<void> {
  const { session, figures } = outage;
  const queued = async (n: number) => {
    const executionId = await submitQueued(session, session.quickFn, `queued ${n}`);
    outage.executions.push(executionId);
    assertEngineFailure(await untilStatus(session, executionId, (status) => TERMINAL.has(status), QUICK_DEADLINE_MS), `cycle ${cycle}: queued while down`);
    figures.queuedFailedWithEngineReason++;
  };
  const waiting = async () => {
    const answered = await within(submit(session, session.quickFn, 'waiting', true), QUICK_DEADLINE_MS, `cycle ${cycle}: a waiting request`);
    assert.is(answered.status, 200, `a request waiting on a down engine gets its answer: ${JSON.stringify(answered.body)}`);
    outage.executions.push(answered.body.executionId as string);
    assertEngineFailure(answered.body as Execution, `cycle ${cycle}: waited for while the engine was down`);
    figures.waitingRequestsAnswered++;
  };
  await Promise.all([...Array.from({ length: QUEUED_WHILE_DOWN }, (_, n) => queued(n)), waiting()]);
}

/** An execution whose container runs when the engine goes: it fails with the engine named, within its timeout and grace. */
async function runningFails(outage: Outage, executionId: string, stoppedAt: number, cycle: number, signal: string): Promise<void> {
  const ended = await untilStatus(outage.session, executionId, (status) => TERMINAL.has(status), LONG_TIMEOUT_MS + GRACE_MS + ANSWER_MARGIN_MS);
  assertEngineFailure(ended, `cycle ${cycle}: running when the engine stopped (${signal})`);
  outage.figures.runningFailedWithEngineReason++;
  outage.figures.slowestRunningFailureMs = Math.max(outage.figures.slowestRunningFailureMs, Date.now() - stoppedAt);
}

/** Starts an execution that sleeps for a minute, and resolves once its container runs. */
async function startLongRun(outage: Outage): Promise<string> {
  const executionId = await submitQueued(outage.session, outage.session.longFn);
  outage.executions.push(executionId);
  await untilStatus(outage.session, executionId, (status) => status === 'running', 20_000);
  return executionId;
}

/** The first execution after the engine came back: the worker needs no restart to run it. */
async function recovers(outage: Outage, cycle: number): Promise<void> {
  const reply = await within(submit(outage.session, outage.session.quickFn, `back in cycle ${cycle}`, true), QUICK_DEADLINE_MS, `cycle ${cycle}: recovery`);
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  outage.executions.push(reply.body.executionId as string);
  assert.is(reply.body.status, 'succeeded', `cycle ${cycle}: the first run after the engine came back: ${JSON.stringify(reply.body)}`);
  assert.is(reply.body.stdout, `back in cycle ${cycle}`);
  outage.figures.recoveredExecutions++;
}

/**
 * One outage: the engine stops (an orderly stop or a crash) with one execution running and
 * others on their way; more are submitted while it is down; it starts again. Resolves with the
 * execution left running for the next cycle, if there is one.
 */
async function outageCycle(outage: Outage, cycle: number, running: string): Promise<string | null> {
  const { engine, figures } = outage;
  const signal = cycle % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
  const racing = raceTheStop(outage, cycle, signal);
  await sleep(Math.random() * 600);
  const stoppedAt = Date.now();
  await engine.stopEngine(signal);
  figures[signal === 'SIGTERM' ? 'orderlyStops' : 'crashes']++;
  await Promise.all([racing, submitWhileDown(outage, cycle), runningFails(outage, running, stoppedAt, cycle, signal)]);
  await assertApiUp(outage.server);

  await engine.startEngine();
  const [next] = await Promise.all([cycle + 1 < CYCLES ? startLongRun(outage) : null, recovers(outage, cycle)]);
  return next;
}

// ---- the suite

const test = suite('docker outage');

test(`${CYCLES} engine stops and starts under a running worker: clear failures, the api up, recovery on its own`, async () => {
  let registry: Registry | undefined;
  let engine: StoppableDocker | undefined;
  let server: ServerProcess | undefined;
  const dataDir = tempDir('faasbox-docker-outage-');
  const figures: Figures = {
    cycles: CYCLES,
    orderlyStops: 0,
    crashes: 0,
    runningFailedWithEngineReason: 0,
    queuedFailedWithEngineReason: 0,
    waitingRequestsAnswered: 0,
    racingSucceeded: 0,
    racingFailedWithEngineReason: 0,
    recoveredExecutions: 0,
    slowestRunningFailureMs: 0,
    leftoverContainers: -1,
    nonTerminal: -1,
    reasons: {},
  };
  try {
    registry = await startRegistry();
    const [images, started] = await Promise.all([ensureTestImages(registry.address), startStoppableDocker()]);
    engine = started;
    const starting = startServer({
      role: 'all',
      dataDir,
      env: {
        DOCKER_HOST: engine.dockerHost,
        FAASBOX_JWT_SECRET: 'docker-outage-secret-of-at-least-32-bytes!',
        FAASBOX_BCRYPT_COST: '10',
        FAASBOX_EXECUTION_GRACE_MS: String(GRACE_MS),
        FAASBOX_MAX_ACTIVE_PER_USER: '20',
        // The worker reaps the containers it could not remove while the engine was away.
        FAASBOX_HOUSEKEEPING_INTERVAL_MS: '1000',
      },
    });
    // Loaded before the first cycle, so that a cycle's runs go straight to the create.
    const [up] = await Promise.all([starting, pullInto(engine, images.busybox)]);
    server = up;
    const outage: Outage = { session: await newSession(server.url, images.busybox), engine, server, figures, executions: [] };

    let running: string | null = await startLongRun(outage);
    for (let cycle = 0; running !== null; cycle++) running = await outageCycle(outage, cycle, running);

    // Containers the worker could not remove while the engine was away go with its reaper.
    const leftovers = await eventually(
      () => 'containers of the outages to be reaped',
      15_000,
      async () => {
        const left = await ourContainers(engine!);
        return left.length === 0 ? left : undefined;
      },
    );
    figures.leftoverContainers = leftovers.length;
    const open: string[] = [];
    for (const executionId of outage.executions) {
      const execution = await readExecution(outage.session, executionId);
      if (!TERMINAL.has(execution.status)) open.push(executionId);
      // Reaping a container reports its execution lost; the outcome first recorded stays.
      else if (execution.status === 'failed') {
        assert.match(execution.reason ?? '', ENGINE_REASON, JSON.stringify(execution));
        const reason = (execution.reason ?? '').replace(/\/\S+/g, '<path>');
        figures.reasons[reason] = (figures.reasons[reason] ?? 0) + 1;
      }
    }
    figures.nonTerminal = open.length;
    assert.equal(open, [], 'every execution ended');
    await assertApiUp(server);
    reportFigure('docker-outage.engine-stop-start', figures);
  } finally {
    await server?.stop();
    await engine?.destroy();
    await registry?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
