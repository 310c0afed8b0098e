/**
 * Issue 20, item 6: the console's pages answer in under 50 ms of server time with 10 000
 * executions in the history. The app runs in process (no socket: server time only) with the
 * history written as the platform writes it (queued, started, an outcome: 90 % succeeded, 7 %
 * failed, 3 % timed out), then each page is asked for in turn, signed in as its user; the
 * baseline is a Hono JSX page of the same size rendered by the same process, so the ratio says
 * what the queries and the session cost.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { signUp } from '../test/support/api.ts';
import { IMAGE, startInProcessApp } from '../test/support/in-process-app.ts';
import { grantOperator } from '../src/commands/operator-rights.ts';
import { type BenchOptions, type Figure, compare, median, percentile } from './figure.ts';

export const TARGET_MS = 50;
const EXECUTIONS = 10_000;

export async function benchConsolePages(options: BenchOptions): Promise<Figure[]> {
  const rounds = options.quick ? 10 : 40;
  const app = await startInProcessApp({ worker: false });
  try {
    const user = await signUp(app.request);
    await grantOperator(app.store, user.email, { by: 'bench@host', now: app.clock.now(), context: { correlationId: 'bench-console', newId: () => randomUUID() } });
    const created = await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'busy', image: IMAGE } });
    const functionId = created.body.id as string;
    const ids = await seedHistory(app, user.id, functionId);
    await app.deps.projections.runner.waitFor((await app.stored.readAll({ direction: 'backwards', maxCount: 1 }))[0]!.position, 120_000);
    const recorded = app.deps.projections.executions.listByOwner(user.id, {}, EXECUTIONS + 1).length;
    if (recorded !== EXECUTIONS) throw new Error(`the history holds ${recorded} executions, not ${EXECUTIONS}`);

    const signIn = await app.fetch('/console/sign-in', {
      method: 'POST',
      body: new URLSearchParams({ email: user.email, password: 'correct horse battery' }),
      headers: { host: 'faasbox.test', origin: 'http://faasbox.test', 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    if (!cookie) throw new Error(`sign-in answered ${signIn.status}`);
    const middle = ids[Math.floor(ids.length / 2)]!;
    const pages: Record<string, string> = {
      functions: '/console/functions',
      function: `/console/functions/${functionId}`,
      'history, newest': '/console/executions',
      'history, failed only': '/console/executions?status=failed',
      'history, deep page': `/console/executions?before=${middle}`,
      execution: `/console/executions/${middle}`,
      operator: '/console/admin',
    };
    const timings = new Map<string, number[]>(Object.keys(pages).map((name) => [name, []]));
    const bare = bareJsxPage();
    const baseline: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const [name, path] of Object.entries(pages)) {
        const started = performance.now();
        const answer = await app.fetch(path, { headers: { host: 'faasbox.test', cookie } });
        await answer.text();
        if (answer.status !== 200) throw new Error(`${path} answered ${answer.status}`);
        timings.get(name)!.push(performance.now() - started);
        const bareStarted = performance.now();
        await (await bare.request('/')).text();
        baseline.push(performance.now() - bareStarted);
      }
    }
    const all = [...timings.values()].flat();
    const perPage = Object.fromEntries([...timings].map(([name, samples]) => [name, { p50Ms: round(median(samples)), p95Ms: round(percentile(samples, 95)) }]));
    const worstP95Ms = Math.max(...Object.values(perPage).map((page) => page.p95Ms));
    const figure = compare('console-pages', 'ms', all.map(round), { name: 'a bare Hono JSX page', samples: baseline.map(round) });
    return [{ ...figure, notes: { executions: EXECUTIONS, perPage, worstP95Ms, samplesPerPage: rounds } }];
  } finally {
    await app.stop();
  }
}

/** The user's history as the platform records it, appended straight to the store: set-up, not measured. */
async function seedHistory(app: Awaited<ReturnType<typeof startInProcessApp>>, ownerId: string, functionId: string): Promise<string[]> {
  const ids: string[] = [];
  let clock = Date.UTC(2026, 0, 1);
  const iso = (ms: number) => new Date(ms).toISOString();
  const metadata = { correlationId: 'bench-console' };
  for (let n = 0; n < EXECUTIONS; n++) {
    const executionId = randomUUID();
    ids.push(executionId);
    clock += 50;
    const roll = n % 100;
    const outcome =
      roll < 90
        ? { type: 'ExecutionSucceeded', data: { exitCode: 0, stdout: 'HELLO FROM FAASBOX\n', stderr: '', truncated: false, durationMs: 38, finishedAt: iso(clock + 40) } }
        : roll < 97
          ? { type: 'ExecutionFailed', data: { exitCode: 1, stdout: '', stderr: 'sh: boom\n', truncated: false, durationMs: 41, reason: 'exited with code 1', finishedAt: iso(clock + 40) } }
          : { type: 'ExecutionTimedOut', data: { stdout: '', stderr: '', truncated: false, durationMs: 30_000, finishedAt: iso(clock + 30_000) } };
    await app.stored.append(
      `execution-${executionId}`,
      [
        {
          id: randomUUID(),
          type: 'ExecutionQueued',
          data: { executionId, functionId, ownerId, image: IMAGE, timeoutMs: 30_000, stdinBytes: 18, functionVersion: 1, queuedAt: iso(clock), deadline: iso(clock + 60_000), slotStreams: [] },
          metadata,
        },
        { id: randomUUID(), type: 'ExecutionStarted', data: { workerId: 'worker-1', containerId: 'c'.repeat(64), startedAt: iso(clock + 1), start: 'cold' }, metadata },
        { id: randomUUID(), ...outcome, metadata },
      ],
      'no_stream',
    );
  }
  return ids;
}

/** The baseline: a page of the console's size (a table of 50 rows) from Hono's JSX, with no query behind it. */
function bareJsxPage() {
  const app = new Hono();
  const rows = Array.from({ length: 50 }, (_, n) => ({ id: randomUUID(), status: n % 10 === 0 ? 'failed' : 'succeeded', ms: 38 + n }));
  app.get('/', (c) =>
    c.html(
      `<!doctype html>${(
        <html lang="en">
          <head>
            <title>bare</title>
          </head>
          <body>
            <table>
              {rows.map((row) => (
                <tr>
                  <td>{row.id}</td>
                  <td>{row.status}</td>
                  <td>{row.ms} ms</td>
                </tr>
              ))}
            </table>
          </body>
        </html>
      ).toString()}`,
    ),
  );
  return app;
}

const round = (value: number) => Math.round(value * 100) / 100;
