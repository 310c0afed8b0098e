/**
 * Races on the deployment of deploy/compose.yaml (two apis, two workers, one store, one
 * nats-server): many submissions of one user's executions at once through both apis must never
 * run more than FAASBOX_MAX_ACTIVE_PER_USER of them, each must end exactly once and leave no
 * container; many registrations of one email at once must make exactly one account.
 * Other suites share the Docker engine: only containers of this cluster's workers are counted.
 */
import { createHash } from 'node:crypto';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { signUp } from '../support/api.ts';
import { type Reply, assertProblem, call, uniqueEmail } from '../support/http-client.ts';
import { grantOperator } from '../support/operator-command.ts';
import type { ServerProcess } from '../support/server-process.ts';
import { type Cluster, startCluster } from './support/cluster.ts';
import { reportFigure } from './support/report.ts';
import { type ExecutionContainer, executionContainers } from '../support/execution-containers.ts';

const LIMIT = 2;
const USERS = 10;
const EXECUTIONS_PER_USER = 20;
const REGISTRATIONS = 50;
const KEYED_REQUESTS = 30;
const PASSWORD = 'correct horse battery';
const OPERATOR = `races-operator-${process.pid}@example.com`;
/** Long enough for several samples of each container, short enough to keep the suite quick. */
const FUNCTION_COMMAND = ['sleep', '0.5'];
const SAMPLE_EVERY_MS = 100;
const FUNCTION_TIMEOUT_MS = 60_000;
const GRACE_MS = 30_000;
/**
 * The platform answers an accepted execution by its timeout plus the grace at worst, and frees
 * its slot then: while submissions wait, some execution must be answered within that bound
 * (plus slack for a loaded machine). Waiting on progress, not on a fixed total, keeps a slow
 * Docker engine from failing the test while a platform that stops answering still does.
 */
const NO_PROGRESS_LIMIT_MS = FUNCTION_TIMEOUT_MS + GRACE_MS + 30_000;
const TERMINAL_EVENTS = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionTimedOut']);

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: Cluster | undefined;
let apis: string[] = [];
let workerIds = new Set<string>();
let operatorToken = '';

const races = suite('races [two apis, two workers, per-user limit 2]');

races.after(async () => {
  // uvu would swallow an error here; a cleanup that fails must not hide the tests' own result.
  try {
    await cluster?.stop();
  } catch (error) {
    console.error('races: stopping the cluster failed', error);
  }
  try {
    await removeContainersOf(workerIds);
  } catch (error) {
    console.error('races: removing leftover containers failed', error);
  }
});

races('the cluster starts, with an operator to read the event log', async () => {
  cluster = await startCluster({
    env: { FAASBOX_MAX_ACTIVE_PER_USER: String(LIMIT), FAASBOX_EXECUTION_GRACE_MS: String(GRACE_MS) },
    // 2 × 12 container slots exceed the 10 users × 2 the limit allows: the limit is what binds.
    workerEnv: { FAASBOX_WORKER_CONCURRENCY: '12' },
  });
  apis = cluster.apis.map((api) => api.url);
  workerIds = new Set(cluster.workers.map(cluster.workerIdOf));
  operatorToken = (await newUser(apis[0]!, OPERATOR)).token;
  grantOperator(cluster.dataDir, OPERATOR);
});

races(`${USERS * EXECUTIONS_PER_USER} executions of ${USERS} users at once: never more than ${LIMIT} per user, each ends once, none left`, async () => {
  const startedAt = Date.now();
  const users = await Promise.all(
    Array.from({ length: USERS }, async (_, n) => {
      const api = apis[n % apis.length]!;
      const user = await newUser(api, uniqueEmail('races-exec'));
      const created = await call(api, 'POST', '/v1/functions', {
        token: user.token,
        json: { name: 'sleeper', image: cluster!.images.busybox, command: FUNCTION_COMMAND, timeoutMs: FUNCTION_TIMEOUT_MS },
      });
      assert.is(created.status, 201, JSON.stringify(created.body));
      return { ...user, functionId: created.body.id as string };
    }),
  );

  const submittedAt = Date.now();
  const sampler = sampleContainers(workerIds);
  const progress: Progress = { refusals: 0, lastOutcomeAt: Date.now() };
  let accepted: { user: (typeof users)[number]; reply: Reply }[];
  let samples: ContainerSample[] = [];
  try {
    accepted = await Promise.all(
      users.flatMap((user, u) =>
        Array.from({ length: EXECUTIONS_PER_USER }, async (_, k) => {
          const first = u * EXECUTIONS_PER_USER + k;
          const reply = await executeUntilAccepted(apis, first, user.token, user.functionId, progress);
          return { user, reply };
        }),
      ),
    );
  } finally {
    samples = await sampler.stop();
  }
  const wallMs = Date.now() - startedAt;

  // Every submission ended in an answer that is an outcome: 200 with the function's result.
  const unexpected = accepted.filter(({ reply }) => reply.status !== 200 || reply.body.status !== 'succeeded');
  assert.equal(
    unexpected.map(({ reply }) => `${reply.status} ${JSON.stringify(reply.body)}`),
    [],
    'every accepted execution succeeded',
  );
  const ownerOf = new Map(accepted.map(({ user, reply }) => [reply.body.executionId as string, user.id]));
  assert.is(ownerOf.size, USERS * EXECUTIONS_PER_USER, 'every execution has its own id');

  // Measured first and asserted after the figures are out, so a failed run still reports them.
  const finishedAtOf = new Map(accepted.map(({ reply }) => [reply.body.executionId as string, Date.parse(reply.body.finishedAt)]));
  const observed = containersPerUser(samples, ownerOf, finishedAtOf);
  const log = await readExecutionLog(users, ownerOf);
  const left = (await containersOf(workerIds)).map((c) => `${c.executionId} ${c.State}`);
  reportFigure('races: per-user limit under concurrent submissions', {
    apis: apis.length,
    workers: workerIds.size,
    limitPerUser: LIMIT,
    users: USERS,
    executions: accepted.length,
    refused429: progress.refusals,
    maxRunningContainersPerUser: observed.maxRunning,
    maxPresentContainersPerUser: observed.maxPresent,
    maxActivePerUserInEventLog: log.maxActivePerUser,
    containerSamples: samples.length,
    executionsSeenRunning: observed.executionsSeen,
    containersLeft: left.length,
    workerPhaseMedianMs: phaseMedians(cluster!.workers),
    medianQueuedToFinishedMs: median(accepted.map(({ reply }) => Date.parse(reply.body.finishedAt) - Date.parse(reply.body.queuedAt))),
    usersSetupSeconds: Math.round((submittedAt - startedAt) / 100) / 10,
    wallSeconds: Math.round(wallMs / 100) / 10,
  });

  // (a) On the engine: the containers of this cluster's workers, per user, at each sample.
  assert.ok(samples.length > 0, 'the sampler listed containers');
  assert.ok(observed.executionsSeen > 0, 'the sampler saw the executions’ containers');
  assert.ok(
    observed.maxRunning <= LIMIT,
    `a user had ${observed.maxRunning} running containers at once (limit ${LIMIT}); present: ${observed.maxPresent}`,
  );
  // (a) and (b) In the event log, read back through the operator's audit endpoint.
  assert.equal(log.notEndedOnce, [], 'every execution has one ExecutionQueued and exactly one terminal event');
  assert.equal(log.wrongOwner, [], 'each ExecutionQueued names the user who submitted it');
  assert.ok(log.maxActivePerUser <= LIMIT, `the log shows ${log.maxActivePerUser} executions of one user active at once`);
  assert.equal(log.slotProblems, [], 'each slot stream: one reservation and one release per accepted execution, never more than the limit');
  // (c) Nothing of this cluster is left on the engine.
  assert.equal(left, [], 'no container of this cluster is left');
});

races(`${REGISTRATIONS} registrations of one email at once through both apis: one 201, the rest 409, one account`, async () => {
  const email = uniqueEmail('races-signup');
  const passwordOf = (n: number) => `password number ${n} of the race`;
  const replies = await Promise.all(
    Array.from({ length: REGISTRATIONS }, (_, n) => call(apis[n % apis.length]!, 'POST', '/v1/users', { json: { email, password: passwordOf(n) } })),
  );
  const statuses = replies.map((reply) => reply.status);
  const winner = statuses.indexOf(201);
  const winnerId = replies[winner]?.body.id as string | undefined;
  const reservations = (await readStream(apis[0]!, emailStreamOf(email))).filter((e) => e.type === 'EmailReserved');
  reportFigure('races: concurrent registrations of one email', {
    registrations: REGISTRATIONS,
    created201: statuses.filter((s) => s === 201).length,
    conflict409: statuses.filter((s) => s === 409).length,
    other: statuses.filter((s) => s !== 201 && s !== 409),
    emailReservations: reservations.length,
  });

  assert.is(statuses.filter((s) => s === 201).length, 1, statuses.join(','));
  assert.is(statuses.filter((s) => s === 409).length, REGISTRATIONS - 1, statuses.join(','));
  for (const reply of replies.filter((r) => r.status === 409)) assertProblem(reply, 409);
  // One reservation in the email's stream, held by the winner.
  assert.equal(
    reservations.map((e) => (e.data as { userId: string }).userId),
    [winnerId],
  );
  // The winning password signs in on either api; a losing one does not.
  for (const api of apis) {
    const login = await call(api, 'POST', '/v1/tokens', { json: { email, password: passwordOf(winner) } });
    assert.is(login.status, 200, JSON.stringify(login.body));
  }
  const loser = (winner + 1) % REGISTRATIONS;
  assertProblem(await call(apis[0]!, 'POST', '/v1/tokens', { json: { email, password: passwordOf(loser) } }), 401);
  // Each api's read models know exactly one account with the email, and it is live.
  for (const api of apis) {
    const accounts = await accountsOf(api, email);
    assert.equal(
      accounts.map((a) => [a.id, a.deleted]),
      [[winnerId, false]],
      `${api} lists exactly one live account`,
    );
  }
});

races(`${KEYED_REQUESTS} requests with one Idempotency-Key at once through both apis, waiting or not: one claim, one execution, one start`, async () => {
  const user = await newUser(apis[0]!, uniqueEmail('races-key'));
  const fn = await call(apis[0]!, 'POST', '/v1/functions', { token: user.token, json: { name: 'keyed', image: cluster!.images.busybox, command: ['sh', '-c', 'sleep 0.3; cat'] } });
  assert.is(fn.status, 201, JSON.stringify(fn.body));
  const key = `races-${process.pid}`;
  const replies = await Promise.all(
    Array.from({ length: KEYED_REQUESTS }, (_, n) =>
      call(apis[n % apis.length]!, 'POST', `/v1/functions/${fn.body.id}/executions${n % 3 === 0 ? '?wait=false' : ''}`, {
        token: user.token,
        body: 'keyed body',
        headers: { 'idempotency-key': key },
      }),
    ),
  );
  const statuses = replies.map((reply) => reply.status);
  const executionIds = new Set(replies.map((reply) => reply.body.executionId as string));
  const [executionId] = executionIds;
  const claims = await readStream(apis[0]!, `idempotency-${user.id}-${createHash('sha256').update(key).digest('hex')}`);
  const events = await readStream(apis[0]!, `execution-${executionId}`);
  reportFigure('races: one Idempotency-Key at once through two apis', {
    requests: KEYED_REQUESTS,
    statuses: Object.fromEntries([...new Set(statuses)].map((status) => [status, statuses.filter((s) => s === status).length])),
    replayed: replies.filter((reply) => reply.headers.get('idempotent-replayed') === 'true').length,
    executions: executionIds.size,
    claims: claims.length,
  });
  assert.ok(statuses.every((status) => status === 200 || status === 202), statuses.join(','));
  assert.is(executionIds.size, 1, [...executionIds].join(','));
  assert.is(claims.length, 1);
  assert.is(events.filter((event) => event.type === 'ExecutionStarted').length, 1, events.map((event) => event.type).join(','));
  // The waiting ones (two in three) all answer with the outcome, whichever started it.
  for (const reply of replies.filter((_, n) => n % 3 !== 0)) assert.equal([reply.status, reply.body.status, reply.body.stdout], [200, 'succeeded', 'keyed body']);
  const history = await call(apis[1]!, 'GET', `/v1/functions/${fn.body.id}/executions`, { token: user.token });
  assert.is(history.body.executions.length, 1);
});

races.run();

// ---- users and submissions

const newUser = (api: string, email: string) => signUp(api, { email, password: PASSWORD });

type Progress = { refusals: number; lastOutcomeAt: number };

/**
 * Submits one execution and waits for its outcome; a 429 is retried after its Retry-After,
 * each attempt on the next api, until it is accepted.
 */
async function executeUntilAccepted(
  apis: string[],
  first: number,
  token: string,
  functionId: string,
  progress: Progress,
): Promise<Reply> {
  for (let attempt = 0; ; attempt++) {
    const api = apis[(first + attempt) % apis.length]!;
    const reply = await call(api, 'POST', `/v1/functions/${functionId}/executions`, { token, body: '' }).catch((error: unknown) => {
      throw new Error(`POST ${api} executions, attempt ${attempt + 1}: ${describeError(error)}`);
    });
    if (reply.status !== 429) {
      progress.lastOutcomeAt = Date.now();
      return reply;
    }
    progress.refusals++;
    assertProblem(reply, 429);
    const retryAfter = Number(reply.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${reply.headers.get('retry-after')}`);
    if (Date.now() - progress.lastOutcomeAt > NO_PROGRESS_LIMIT_MS) {
      throw new Error(`no execution answered for ${NO_PROGRESS_LIMIT_MS} ms; this one was refused ${attempt + 1} times`);
    }
    // Spread over a second past Retry-After, so the refused do not come back all at once.
    await sleep(retryAfter * 1000 + Math.random() * 1000);
  }
}

// ---- the Docker engine

/** One listing: when it began, and each container of the cluster in it. */
type ContainerSample = { at: number; containers: { executionId: string; running: boolean }[] };

async function containersOf(workers: Set<string>): Promise<ExecutionContainer[]> {
  return executionContainers(docker, (workerId) => workers.has(workerId));
}

async function removeContainersOf(workers: Set<string>): Promise<void> {
  if (workers.size === 0) return;
  for (const container of await containersOf(workers)) {
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => {});
  }
}

/** Lists this cluster's containers every SAMPLE_EVERY_MS until stopped; a failed listing fails the test. */
function sampleContainers(workers: Set<string>) {
  const samples: ContainerSample[] = [];
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      const at = Date.now();
      const listed = await containersOf(workers);
      samples.push({ at, containers: listed.map((c) => ({ executionId: c.executionId, running: c.State === 'running' })) });
      await sleep(SAMPLE_EVERY_MS);
    }
  })();
  // Awaited by stop(); this only keeps an early failure from being reported as unhandled.
  loop.catch(() => {});
  return {
    async stop(): Promise<ContainerSample[]> {
      sampling = false;
      await loop;
      return samples;
    },
  };
}

/**
 * The most containers one user had at once: running user code, and in any state. The agent
 * reports the function's exit in-band, so the worker answers (and the slot is free) while the
 * engine may still list the container as running for a few tens of milliseconds: a container
 * whose function had exited, as its worker reported, before the listing began runs no user code.
 */
function containersPerUser(samples: ContainerSample[], ownerOf: Map<string, string>, finishedAtOf: Map<string, number>) {
  let maxRunning = 0;
  let maxPresent = 0;
  const seen = new Set<string>();
  for (const sample of samples) {
    const running = new Map<string, number>();
    const present = new Map<string, number>();
    for (const { executionId, running: listedRunning } of sample.containers) {
      const isRunning = listedRunning && !((finishedAtOf.get(executionId) ?? Infinity) < sample.at);
      const owner = ownerOf.get(executionId);
      // Another test's container on a worker of this cluster cannot exist; count it apart if it does.
      const key = owner ?? `unknown ${executionId}`;
      present.set(key, (present.get(key) ?? 0) + 1);
      if (isRunning) {
        running.set(key, (running.get(key) ?? 0) + 1);
        seen.add(executionId);
      }
    }
    maxRunning = Math.max(maxRunning, ...running.values());
    maxPresent = Math.max(maxPresent, ...present.values());
  }
  return { maxRunning, maxPresent, executionsSeen: seen.size };
}

// ---- the event log, through the operator's audit endpoint

type AuditEntry = { stream: string; revision: number; position: number; type: string; data: unknown };

async function readStream(api: string, name: string): Promise<AuditEntry[]> {
  const events: AuditEntry[] = [];
  for (let from: number | null = 0; from !== null; ) {
    const page = await call(api, 'GET', `/v1/admin/streams/${name}?fromRevision=${from}&limit=1000`, { token: operatorToken });
    // The audit answers 404 for a stream with no events; the callers judge an empty one.
    if (page.status === 404 && from === 0) return [];
    assert.is(page.status, 200, `${name}: ${JSON.stringify(page.body)}`);
    events.push(...(page.body.events as AuditEntry[]));
    from = page.body.nextRevision as number | null;
  }
  return events;
}

/** Runs `task` over `items`, `width` at a time, so the audit reads do not flood an api. */
async function inBatches<T, R>(items: readonly T[], width: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
  return results;
}

/**
 * From each execution's stream: it was queued once and ended once. Its slot was held from
 * before ExecutionQueued until after its terminal event, so at any position in the log the
 * executions queued and not yet ended are a lower bound of the slots held: a sweep over those
 * positions must never count more than the limit for one user.
 */
async function readExecutionLog(users: { id: string }[], ownerOf: Map<string, string>) {
  const executionIds = [...ownerOf.keys()];
  const streams = await inBatches(executionIds, 8, (id, n) => readStream(apis[n % apis.length]!, `execution-${id}`));
  const notEndedOnce: string[] = [];
  const wrongOwner: string[] = [];
  const changes = new Map<string, { position: number; delta: number }[]>();
  streams.forEach((events, n) => {
    const executionId = executionIds[n]!;
    const owner = ownerOf.get(executionId)!;
    const queued = events.filter((e) => e.type === 'ExecutionQueued');
    const terminal = events.filter((e) => TERMINAL_EVENTS.has(e.type));
    if (queued.length !== 1 || terminal.length !== 1) {
      notEndedOnce.push(`${executionId}: ${events.map((e) => e.type).join(', ')}`);
      return;
    }
    if ((queued[0]!.data as { ownerId?: string }).ownerId !== owner) wrongOwner.push(executionId);
    const list = changes.get(owner) ?? [];
    list.push({ position: queued[0]!.position, delta: 1 }, { position: terminal[0]!.position, delta: -1 });
    changes.set(owner, list);
  });

  let maxActivePerUser = 0;
  for (const list of changes.values()) {
    let active = 0;
    for (const { delta } of list.sort((a, b) => a.position - b.position)) {
      active += delta;
      maxActivePerUser = Math.max(maxActivePerUser, active);
    }
  }

  const slotProblems: string[] = [];
  for (const user of users) {
    const mine = new Set(executionIds.filter((id) => ownerOf.get(id) === user.id));
    const events = await readStream(apis[0]!, `slots-${user.id}`);
    const counts = (type: string) => {
      const byExecution = new Map<string, number>();
      for (const e of events.filter((e) => e.type === type)) {
        const id = (e.data as { executionId: string }).executionId;
        byExecution.set(id, (byExecution.get(id) ?? 0) + 1);
      }
      return byExecution;
    };
    const reserved = counts('SlotReserved');
    const released = counts('SlotReleased');
    for (const id of new Set([...mine, ...reserved.keys(), ...released.keys()])) {
      if (!mine.has(id)) slotProblems.push(`${user.id}: slot of an execution never accepted: ${id}`);
      else if (reserved.get(id) !== 1 || released.get(id) !== 1) {
        slotProblems.push(`${user.id}: ${id} reserved ${reserved.get(id) ?? 0}, released ${released.get(id) ?? 0} times`);
      }
    }
    const widest = Math.max(...events.map((e) => (e.data as { active: unknown[] }).active.length));
    if (widest > LIMIT) slotProblems.push(`${user.id}: ${widest} leases held at once`);
  }
  return { notEndedOnce, wrongOwner, maxActivePerUser, slotProblems };
}

/** fetch says only "fetch failed"; the reason is in its cause. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  return cause ? `${error.message}: ${cause.code ?? ''} ${cause.message ?? ''}` : error.message;
}

/** Where a worker's time went, from the phases its 'execution finished' log lines carry. */
function phaseMedians(workers: ServerProcess[]): Record<string, number | null> {
  const phases: Record<string, number[]> = {};
  for (const line of workers.flatMap((worker) => worker.output)) {
    const entry = parseLogLine(line);
    if (entry?.message !== 'execution finished' || typeof entry.phases !== 'object' || entry.phases === null) continue;
    for (const [phase, ms] of Object.entries(entry.phases)) if (typeof ms === 'number') (phases[phase] ??= []).push(ms);
  }
  return Object.fromEntries(Object.entries(phases).map(([phase, values]) => [phase, median(values)]));
}

function parseLogLine(line: string): { message?: string; phases?: unknown } | null {
  try {
    return JSON.parse(line) as { message?: string; phases?: unknown };
  } catch {
    return null;
  }
}

function median(values: number[]): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)]!;
}

const emailStreamOf = (email: string) => `email-${createHash('sha256').update(email.trim().toLowerCase()).digest('hex')}`;

/** The admin read models are eventually consistent: wait (bounded) until this api has seen the account. */
async function accountsOf(api: string, email: string): Promise<{ id: string; deleted: boolean }[]> {
  const giveUpAt = Date.now() + 30_000;
  for (;;) {
    const reply = await call(api, 'GET', `/v1/admin/users/${encodeURIComponent(email)}`, { token: operatorToken });
    if (reply.status === 200) return reply.body.accounts as { id: string; deleted: boolean }[];
    assert.is(reply.status, 404, JSON.stringify(reply.body));
    if (Date.now() > giveUpAt) throw new Error(`${api} never listed an account for ${email}`);
    await sleep(100);
  }
}
