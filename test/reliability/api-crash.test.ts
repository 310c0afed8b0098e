/**
 * An api process SIGKILLed while it holds synchronous execution requests (POST …/executions,
 * waiting for the result). The requests die with it, but the executions must not: they go on
 * on the workers; the durable recorder of the other api records their results (statuses wait on
 * a stream for whichever api reads them), and recording the outcome releases their slots, which
 * their leases would free anyway once they lapse (a slot is leased so that a crashed api cannot
 * hold it for ever). Each round kills the api of the round before's replacement.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../../src/adapters/sqlite/better-sqlite3-driver.ts';
import { userSlotsStream } from '../../src/domain/streams.ts';
import { createFunction, signUp } from '../support/api.ts';
import { type Reply, call } from '../support/http-client.ts';
import type { ServerProcess } from '../support/server-process.ts';
import { type Cluster, startCluster } from './support/cluster.ts';
import { reportFigure } from './support/report.ts';
import { eventually } from '../support/eventually.ts';

const GRACE_MS = 3_000;
const TIMEOUT_MS = 15_000;
/** Long enough that every request is still waiting when its api is killed. */
const RUN_SECONDS = 3;
const KILLS = 10;
/** Held by each killed api; also the users' limit, so a slot still held refuses the next run. */
const REQUESTS_PER_KILL = 3;

type User = { token: string; userId: string; slow: string; quick: string };
type Held = { body: string; answer: Promise<{ reply: Reply } | { error: unknown }> };
type Recorded = { executionId: string; body: string; status: string; stdout: string; exitCode: number | null; msAfterKill: number };

async function newUser(url: string, image: string): Promise<User> {
  const { id: userId, token } = await signUp(url, { tag: 'api-crash' });
  const create = async (name: string, command: string[]) => (await createFunction(url, token, { name, image, command, timeoutMs: TIMEOUT_MS })).id;
  return {
    token,
    userId,
    slow: await create('slow', ['sh', '-c', `sleep ${RUN_SECONDS}; cat`]),
    quick: await create('quick', ['cat']),
  };
}

/** A synchronous request that stays open until its execution ends, or its api dies. */
function holdRequest(url: string, user: User, body: string): Held {
  const answer = call(url, 'POST', `/v1/functions/${user.slow}/executions`, { token: user.token, body }).then(
    (reply) => ({ reply }),
    (error: unknown) => ({ error }),
  );
  return { body, answer };
}

type Summary = { executionId: string; status: string };

const runningOn = async (url: string, user: User) =>
  ((await call(url, 'GET', `/v1/functions/${user.slow}/executions`, { token: user.token })).body.executions as Summary[]).filter(
    (execution) => execution.status === 'running',
  );

async function untilRecorded(url: string, user: User, executionId: string, killedAt: number): Promise<Omit<Recorded, 'body'>> {
  return eventually(`${executionId} recorded`, TIMEOUT_MS + GRACE_MS + 10_000, async () => {
    const { body } = await call(url, 'GET', `/v1/executions/${executionId}`, { token: user.token });
    if (body.status === 'queued' || body.status === 'running') return undefined;
    return { executionId, status: body.status, stdout: body.stdout, exitCode: body.exitCode, msAfterKill: Date.now() - killedAt };
  });
}

/** For each execution: released by an event, or only past its lease. */
async function howSlotsWereFreed(dataDir: string, users: readonly User[], executionIds: ReadonlySet<string>) {
  const store = createSqliteEventStore(openBetterSqlite3(join(dataDir, 'events.sqlite')));
  try {
    let released = 0;
    for (const user of users) {
      const events = await store.readStream(userSlotsStream(user.userId));
      released += events.filter((event) => event.type === 'SlotReleased' && executionIds.has((event.data as { executionId: string }).executionId)).length;
    }
    return { released, lapsed: executionIds.size - released };
  } finally {
    await store.close();
  }
}

const test = suite('api crash [SIGKILL while holding synchronous requests]');

test('executions held by a killed api still finish, are recorded by the other api, and free their slots', async () => {
  let cluster: Cluster | undefined;
  let nextVictim: Promise<ServerProcess> | undefined;
  try {
    cluster = await startCluster({
      env: { FAASBOX_MAX_ACTIVE_PER_USER: String(REQUESTS_PER_KILL), FAASBOX_EXECUTION_GRACE_MS: String(GRACE_MS) },
      // A failed run stops at once instead of draining for the default 30 s.
      workerEnv: { FAASBOX_DRAIN_TIMEOUT: '2000' },
    });
    const c = cluster;
    // The survivor is never killed: it answers the checks and its recorder records the results.
    const survivor = c.apis[1]!;
    let victim: ServerProcess = c.apis[0]!;
    const recorded: Recorded[] = [];
    const users: User[] = [];
    let requestsCut = 0;
    let rerunsAccepted = 0;

    for (let kill = 1; kill <= KILLS; kill++) {
      const user = await newUser(victim.url, c.images.busybox);
      users.push(user);
      const held = Array.from({ length: REQUESTS_PER_KILL }, (_, i) => holdRequest(victim.url, user, `kill ${kill} request ${i}`));
      const running = await eventually('the held executions run', 20_000, async () => {
        const executions = await runningOn(survivor.url, user);
        return executions.length === REQUESTS_PER_KILL ? executions : undefined;
      });

      const killedAt = Date.now();
      await victim.kill();
      nextVictim = kill < KILLS ? c.startApi() : undefined;
      for (const { answer } of held) {
        const settled = await answer;
        assert.ok('error' in settled, `answered before the kill, so nothing was cut: ${JSON.stringify(settled)}`);
        requestsCut++;
      }

      const outcomes = await Promise.all(running.map(({ executionId }) => untilRecorded(survivor.url, user, executionId, killedAt)));
      const bodies = new Set(held.map(({ body }) => body));
      for (const outcome of outcomes) {
        assert.is(outcome.status, 'succeeded', JSON.stringify(outcome));
        assert.is(outcome.exitCode, 0);
        assert.ok(bodies.delete(outcome.stdout), `stdout ${JSON.stringify(outcome.stdout)} is no held request's body, or twice one`);
        recorded.push({ ...outcome, body: outcome.stdout });
      }

      // The user's every slot was held by the cut requests: all of them must take a new run now.
      const reruns = await Promise.all(
        Array.from({ length: REQUESTS_PER_KILL }, (_, i) =>
          call(survivor.url, 'POST', `/v1/functions/${user.quick}/executions`, { token: user.token, body: `rerun ${i}` }),
        ),
      );
      for (const [i, rerun] of reruns.entries()) {
        assert.is(rerun.status, 200, `a slot is still held: ${JSON.stringify(rerun.body)}`);
        assert.is(rerun.body.status, 'succeeded', JSON.stringify(rerun.body));
        assert.is(rerun.body.stdout, `rerun ${i}`);
      }
      rerunsAccepted += reruns.length;
      if (nextVictim) victim = await nextVictim;
      nextVictim = undefined;
    }

    const slots = await howSlotsWereFreed(c.dataDir, users, new Set(recorded.map(({ executionId }) => executionId)));
    reportFigure('api-crash', {
      apisKilled: KILLS,
      requestsCut,
      executionsRecordedSucceeded: recorded.filter(({ status }) => status === 'succeeded').length,
      worstMsFromKillToRecorded: Math.max(...recorded.map(({ msAfterKill }) => msAfterKill)),
      slotsReleasedOnRecord: slots.released,
      slotsLeftToLeaseExpiry: slots.lapsed,
      rerunsAcceptedAfterKill: rerunsAccepted,
    });
  } finally {
    // Joined first, so that stop() knows the replacement api too.
    await nextVictim?.catch(() => undefined);
    await cluster?.stop();
  }
});

test.run();
