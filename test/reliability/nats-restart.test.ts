/**
 * nats-server SIGKILLed and started again on the same port and store, ten times, under a stream
 * of submissions (asynchronous `?wait=false` and synchronous) to both apis. The api answers 202
 * or a result only once JetStream has stored the job (publishJob resolves on the PubAck), and
 * 503 otherwise. What must hold: every submission acknowledged to a client runs exactly once and
 * is recorded succeeded with its output (none lost to the restarts, none run twice by a
 * redelivery), and every other answer is a 503 problem+json.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../../src/adapters/sqlite/better-sqlite3-driver.ts';
import { executionStream } from '../../src/domain/streams.ts';
import { createFunction, signUp } from '../support/api.ts';
import { type Reply, call } from '../support/http-client.ts';
import type { ServerProcess } from '../support/server-process.ts';
import { type Cluster, startCluster } from './support/cluster.ts';
import { reportFigure } from './support/report.ts';
import { workerCounts } from './support/worker-log.ts';
import { eventually } from '../support/eventually.ts';

const TIMEOUT_MS = 5_000;
const GRACE_MS = 5_000;
const RESTARTS = 10;
/** How long nats-server stays up between two kills. */
const UP_MS = 1_500;
const CLIENTS = 3;
const PAUSE_MS = 200;

type Kind = 'async' | 'sync';
type Submission = { n: number; kind: Kind; body: string; reply: Reply | null; error: string | null; answeredInMs: number };
type User = { token: string; functionId: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function newUser(url: string, image: string): Promise<User> {
  const { token } = await signUp(url, { tag: 'nats-restart' });
  const created = await createFunction(url, token, { name: 'echo', image, command: ['cat'], timeoutMs: TIMEOUT_MS });
  return { token, functionId: created.id };
}

/** One client: submits, alternating kinds and apis, until told to stop. */
async function submitUntil(stopped: () => boolean, apis: readonly ServerProcess[], user: User, next: () => number, into: Submission[]) {
  while (!stopped()) {
    const n = next();
    const kind: Kind = n % 2 === 0 ? 'async' : 'sync';
    const body = `submission ${n}`;
    const path = `/v1/functions/${user.functionId}/executions${kind === 'async' ? '?wait=false' : ''}`;
    const submission: Submission = { n, kind, body, reply: null, error: null, answeredInMs: 0 };
    const sentAt = Date.now();
    try {
      submission.reply = await call(apis[n % apis.length]!.url, 'POST', path, { token: user.token, body });
    } catch (error) {
      submission.error = error instanceof Error ? error.message : String(error);
    }
    submission.answeredInMs = Date.now() - sentAt;
    into.push(submission);
    await sleep(PAUSE_MS);
  }
}

const acknowledged = ({ kind, reply }: Submission) =>
  reply !== null && (kind === 'async' ? reply.status === 202 : reply.status === 200 || reply.status === 504);

/** Why an unacknowledged answer is not the 503 problem+json a client can retry on; null when it is. */
function refusalProblem({ reply, error }: Submission): string | null {
  if (reply === null) return `no answer: ${error}`;
  if (reply.status !== 503) return `status ${reply.status}: ${JSON.stringify(reply.body)}`;
  if (reply.headers.get('content-type') !== 'application/problem+json') return `content-type ${reply.headers.get('content-type')}`;
  const body = reply.body as Record<string, unknown> | null;
  if (body?.status !== 503 || typeof body.title !== 'string' || typeof body.detail !== 'string') return `not a problem: ${JSON.stringify(body)}`;
  return null;
}

const test = suite('nats restart [SIGKILL and restart of nats-server under submissions]');

test('every acknowledged submission runs exactly once and is recorded; every other one is refused with 503', async () => {
  let cluster: Cluster | undefined;
  let stopSubmitting = true;
  const clients: Promise<void>[] = [];
  try {
    cluster = await startCluster({
      env: { FAASBOX_MAX_ACTIVE_PER_USER: '1000', FAASBOX_EXECUTION_GRACE_MS: String(GRACE_MS) },
      workerEnv: { FAASBOX_WORKER_CONCURRENCY: '4', FAASBOX_DRAIN_TIMEOUT: '2000' },
    });
    const c = cluster;
    const user = await newUser(c.apis[0]!.url, c.images.busybox);

    const submissions: Submission[] = [];
    let counter = 0;
    stopSubmitting = false;
    for (let i = 0; i < CLIENTS; i++) clients.push(submitUntil(() => stopSubmitting, c.apis, user, () => counter++, submissions));
    const outagesMs: number[] = [];
    for (let restart = 0; restart < RESTARTS; restart++) {
      await sleep(UP_MS);
      const downAt = Date.now();
      await c.nats.restart();
      outagesMs.push(Date.now() - downAt);
    }
    // Some submissions after the last restart too: the platform must be back to normal.
    await sleep(UP_MS);
    stopSubmitting = true;
    await Promise.all(clients);
    const lastSubmittedAt = Date.now();

    const refusals = submissions.filter((submission) => !acknowledged(submission));
    const badRefusals = refusals.flatMap((submission) => refusalProblem(submission) ?? []);
    // The apis log an unexpected error with the correlation id of the request: show why.
    const logged = c.apis.flatMap((api) => api.output).filter((line) => badRefusals.some((problem) => line.includes('"request failed"') && problem.includes(JSON.parse(line).correlationId)));
    assert.equal(badRefusals, [], `an unacknowledged submission got something else than a 503 problem+json:\n${logged.join('\n')}`);
    const accepted = submissions.filter(acknowledged).map((submission) => ({ ...submission, executionId: submission.reply!.body.executionId as string }));
    assert.ok(accepted.length > 0, 'nothing was acknowledged');

    // One at a time: most have ended long ago, and a hundred pollers would load the apis they probe.
    const final: { status: string; stdout: string; reason: string | null }[] = [];
    for (const { executionId } of accepted) {
      final.push(
        await eventually(`${executionId} ends`, Math.max(1_000, lastSubmittedAt + TIMEOUT_MS + GRACE_MS + 15_000 - Date.now()), async () => {
          const { body } = await call(c.apis[1]!.url, 'GET', `/v1/executions/${executionId}`, { token: user.token });
          return body.status === 'queued' || body.status === 'running' ? undefined : (body as (typeof final)[number]);
        }),
      );
    }
    const lost = accepted.flatMap((submission, i) =>
      final[i]!.status === 'succeeded' && final[i]!.stdout === submission.body ? [] : [{ ...submission, reply: undefined, final: final[i] }],
    );

    // A redelivered job could still start until its deadline: count runs only once all have passed.
    await sleep(Math.max(0, lastSubmittedAt + TIMEOUT_MS + GRACE_MS - Date.now()));
    const { started, received } = workerCounts(c.workers);
    const notOnce = accepted.filter(({ executionId }) => started.get(executionId) !== 1).map(({ executionId }) => `${executionId}: ${started.get(executionId) ?? 0} runs`);

    const store = createSqliteEventStore(openBetterSqlite3(join(c.dataDir, 'events.sqlite')));
    const eventCounts = new Map<string, string[]>();
    try {
      for (const { executionId } of accepted) eventCounts.set(executionId, (await store.readStream(executionStream(executionId))).map((event) => event.type));
    } finally {
      await store.close();
    }
    // One end, and success. A start is recorded at most once; it may be missing when the result
    // overtook it (the waiting request records the result itself, the recorder the start).
    const badHistories = [...eventCounts].filter(([, types]) => {
      const ends = types.filter((type) => type === 'ExecutionSucceeded' || type === 'ExecutionFailed' || type === 'ExecutionTimedOut');
      return ends.length !== 1 || ends[0] !== 'ExecutionSucceeded' || types.filter((type) => type === 'ExecutionStarted').length > 1;
    });

    // Executions the apis queued but refused (503): recorded failed. One may still have run: when
    // the server stored the job and died before its PubAck reached the api, the api cannot know.
    // Counted, not asserted: no 503 promises that nothing ran, but a client's retry of it may
    // then run the function twice.
    const history = await call(c.apis[0]!.url, 'GET', `/v1/functions/${user.functionId}/executions?limit=1000`, { token: user.token });
    const acceptedIds = new Set(accepted.map(({ executionId }) => executionId));
    const refusedExecutions = (history.body.executions as { executionId: string; status: string; reason: string | null }[]).filter(
      ({ executionId }) => !acceptedIds.has(executionId),
    );
    const refusedButRan = refusedExecutions.filter(({ executionId }) => (started.get(executionId) ?? 0) > 0);

    reportFigure('nats-restart', {
      natsRestarts: outagesMs.length,
      worstRestartMs: Math.max(...outagesMs),
      submissions: submissions.length,
      acknowledged: accepted.length,
      acknowledgedAsync: accepted.filter(({ kind }) => kind === 'async').length,
      acknowledgedSync: accepted.filter(({ kind }) => kind === 'sync').length,
      worstSyncAnswerMs: Math.max(0, ...accepted.filter(({ kind }) => kind === 'sync').map(({ answeredInMs }) => answeredInMs)),
      refused503: refusals.length - badRefusals.length,
      otherAnswers: badRefusals.length,
      acknowledgedLost: lost.length,
      acknowledgedNotRunExactlyOnce: notOnce.length,
      jobsHandedToAWorkerTwice: [...received.values()].filter((count) => count > 1).length,
      refusedQueuedAndFailed: refusedExecutions.filter(({ status }) => status === 'failed').length,
      refusedButRan: refusedButRan.length,
    });
    const traces = c.workers.flatMap((worker) => worker.output).filter((line) => lost.some(({ executionId }) => line.includes(executionId)));
    assert.equal(lost, [], `acknowledged submissions not recorded succeeded with their output; the workers logged:\n${traces.join('\n')}`);
    assert.equal(notOnce, [], 'acknowledged submissions whose container did not start exactly once');
    assert.equal(badHistories, [], 'execution streams with another end than one success, or two starts');
    assert.equal(
      refusedExecutions.filter(({ status }) => status !== 'failed'),
      [],
      'a refused submission left an execution that is not failed',
    );
  } finally {
    stopSubmitting = true;
    await Promise.all(clients);
    // Every execution of this suite is a `cat` that ends at once or at its 5 s timeout.
    await cluster?.stop();
  }
});

test.run();
