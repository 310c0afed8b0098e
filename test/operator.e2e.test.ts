/**
 * Durable projections and the operator's tools, end to end: admin routes over HTTP, read models
 * that resume from their checkpoint after a restart, and the `faasbox` command (audit, status,
 * rebuild) run as an operator would, against the stores the server left behind.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from './support/api.ts';
import { assertProblem, call, uniqueEmail } from './support/http-client.ts';
import { grantOperator, operatorCommand } from './support/operator-command.ts';
import { startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { ensureTestImages } from './support/test-images.ts';

const operatorEmail = uniqueEmail('operator');
const PASSWORD = 'operator test password';
const dataDir = tempDir();
/** Set in the EventStoreDB workflow: the server and the command then share that store. */
const eventStoreUrl = process.env.FAASBOX_EVENTSTORE_URL;
const env = {
  FAASBOX_JWT_SECRET: 'operator-e2e-secret-of-at-least-32-bytes',
  FAASBOX_WORKER_ID: `operator-e2e-${process.pid}`,
  // The sleeping execution must not hold up the restarts.
  FAASBOX_DRAIN_TIMEOUT: '500',
};

let registry: Awaited<ReturnType<typeof startRegistry>>;
let image: string;
let server: ServerProcess;
let tokens: { operator: string; ada: string };
let ada: { id: string; email: string; functionId: string; executionIds: string[] };
let firstAdaId: string;

const faasbox = (...args: string[]) => operatorCommand(dataDir, ...args);
const jsonLines = (text: string) => text.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));

const signUp = (email: string) => api.signUp(server.url, { email, password: PASSWORD });

const operator = suite('operators: admin routes, durable projections, audit and rebuild');

operator('history is made: users, functions, executions, a deleted account and its email taken again', async () => {
  registry = await startRegistry();
  image = (await ensureTestImages(registry.address)).busybox;
  server = await startServer({ dataDir, env });

  const op = await signUp(operatorEmail);
  grantOperator(dataDir, operatorEmail);
  const adaEmail = uniqueEmail('ada');
  const first = await signUp(adaEmail);
  firstAdaId = first.id;
  const doomed = await call(server.url, 'POST', '/v1/functions', {
    token: first.token,
    json: { name: 'doomed', image, env: { API_KEY: 'first-account-secret' } },
  });
  assert.is(doomed.status, 201);
  assert.is((await call(server.url, 'DELETE', '/v1/users/me', { token: first.token })).status, 200);

  const second = await signUp(adaEmail);
  const created = await call(server.url, 'POST', '/v1/functions', {
    token: second.token,
    json: { name: 'upper', image, command: ['tr', 'a-z', 'A-Z'], env: { API_KEY: 'sk-live-secret-value' } },
  });
  assert.is(created.status, 201);
  const functionId = created.body.id as string;
  const executionIds: string[] = [];
  for (const input of ['one', 'two']) {
    const ran = await call(server.url, 'POST', `/v1/functions/${functionId}/executions`, { token: second.token, body: input });
    assert.is(ran.body.status, 'succeeded', JSON.stringify(ran.body));
    executionIds.push(ran.body.executionId);
  }
  tokens = { operator: op.token, ada: second.token };
  ada = { id: second.id, email: adaEmail, functionId, executionIds };
});

operator('admin routes answer operators only: 401 without a token, 403 for everyone else', async () => {
  for (const path of [
    '/v1/admin/projections',
    '/v1/admin/projections/active-executions',
    '/v1/admin/executions?status=running',
    `/v1/admin/streams/user-${ada.id}`,
    `/v1/admin/users/${encodeURIComponent(ada.email)}`,
    '/v1/admin/metrics/history',
    '/v1/admin/workers',
  ]) {
    assertProblem(await call(server.url, 'GET', path), 401);
    const denied = await call(server.url, 'GET', path, { token: tokens.ada });
    assertProblem(denied, 403);
    assert.is(denied.body.type, 'urn:faasbox:problem:not-operator');
    assert.is((await call(server.url, 'GET', path, { token: tokens.operator })).status, 200, path);
  }
});

operator('operators see running executions, in total and per user, while they run', async () => {
  const sleeper = await call(server.url, 'POST', '/v1/functions', {
    token: tokens.ada,
    json: { name: 'sleeper', image, command: ['sleep', '30'], timeoutMs: 20_000 },
  });
  const queued = await call(server.url, 'POST', `/v1/functions/${sleeper.body.id}/executions?wait=false`, { token: tokens.ada });
  assert.is(queued.status, 202);
  const executionId = queued.body.executionId as string;

  let running: { executionId: string; ownerId: string; functionId: string }[] = [];
  for (let i = 0; i < 100 && !running.some((e) => e.executionId === executionId); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    running = (await call(server.url, 'GET', '/v1/admin/executions?status=running', { token: tokens.operator })).body.executions;
  }
  const mine = running.find((e) => e.executionId === executionId);
  assert.ok(mine, 'the execution is listed as running');
  assert.is(mine.ownerId, ada.id);
  assert.is(mine.functionId, sleeper.body.id);

  const active = await call(server.url, 'GET', '/v1/admin/projections/active-executions', { token: tokens.operator });
  assert.ok(active.body.total >= 1);
  assert.equal(active.body.byUser.find((u: { userId: string }) => u.userId === ada.id), { userId: ada.id, email: ada.email, active: 1 });

  const account = await call(server.url, 'GET', `/v1/admin/users/${encodeURIComponent(ada.email)}`, { token: tokens.operator });
  assert.is(account.body.accounts[0].activeExecutions, 1);

  const succeeded = await call(server.url, 'GET', '/v1/admin/executions?status=succeeded&limit=1', { token: tokens.operator });
  assert.equal(succeeded.body.executions.map((e: { executionId: string }) => e.executionId), [ada.executionIds[1]]);
  assertProblem(await call(server.url, 'GET', '/v1/admin/executions?status=sleeping', { token: tokens.operator }), 400);
  assertProblem(await call(server.url, 'GET', '/v1/admin/executions?limit=0', { token: tokens.operator }), 400);
});

operator('an account lookup lists the live account first, then the deleted one with that email', async () => {
  const reply = await call(server.url, 'GET', `/v1/admin/users/${encodeURIComponent(ada.email.toUpperCase())}`, { token: tokens.operator });
  assert.is(reply.status, 200);
  assert.equal(
    reply.body.accounts.map((a: { id: string; deleted: boolean; functions: number }) => [a.id, a.deleted, a.functions]),
    [
      [ada.id, false, 2],
      [firstAdaId, true, 0],
    ],
  );
  assertProblem(await call(server.url, 'GET', `/v1/admin/users/${encodeURIComponent(uniqueEmail('nobody'))}`, { token: tokens.operator }), 404);
  assertProblem(await call(server.url, 'GET', '/v1/admin/users/not-an-email', { token: tokens.operator }), 400);
});

operator('a stream reads in order with secrets masked, a page at a time', async () => {
  const user = await call(server.url, 'GET', `/v1/admin/streams/user-${ada.id}`, { token: tokens.operator });
  assert.equal(user.body.events.map((e: { type: string; revision: number }) => [e.revision, e.type]), [
    [0, 'UserRegistered'],
    [1, 'TokenIssued'],
  ]);
  assert.is(user.body.events[0].data.passwordHash, '***');
  assert.type(user.body.events[0].correlationId, 'string');
  assert.ok(user.body.events[0].position < user.body.events[1].position);

  const fn = await call(server.url, 'GET', `/v1/admin/streams/function-${ada.functionId}`, { token: tokens.operator });
  assert.equal(fn.body.events[0].data.env, { API_KEY: '***' });
  assert.not.match(JSON.stringify(fn.body), /sk-live-secret-value/);

  const execution = `execution-${ada.executionIds[0]}`;
  const firstPage = await call(server.url, 'GET', `/v1/admin/streams/${execution}?limit=1`, { token: tokens.operator });
  assert.equal(firstPage.body.events.map((e: { type: string }) => e.type), ['ExecutionQueued']);
  assert.is(firstPage.body.nextRevision, 1);
  const rest = await call(server.url, 'GET', `/v1/admin/streams/${execution}?fromRevision=1`, { token: tokens.operator });
  assert.equal(rest.body.events.map((e: { type: string }) => e.type), ['ExecutionStarted', 'ExecutionSucceeded']);
  assert.is(rest.body.nextRevision, null);

  assertProblem(await call(server.url, 'GET', `/v1/admin/streams/user-${crypto.randomUUID()}`, { token: tokens.operator }), 404);
  assertProblem(await call(server.url, 'GET', '/v1/admin/streams/..%2F..%2Fetc%2Fpasswd', { token: tokens.operator }), 404);
});

operator('a rebuild refuses to run while the api holds the read models, and so does a second api', async () => {
  const rebuild = faasbox('projections', 'rebuild');
  assert.is(rebuild.status, 1);
  assert.match(rebuild.stderr, /in use by another process/);
  assert.not.match(rebuild.stderr, /\n\s+at /, 'no stack trace');

  let second: ServerProcess | undefined;
  try {
    second = await startServer({ dataDir, env: { ...env, FAASBOX_WORKER_ID: `operator-e2e-2-${process.pid}` } });
    assert.unreachable('a second api started on the same read models');
  } catch (error) {
    assert.match(String(error), /in use by another process/);
  } finally {
    await second?.stop();
  }
});

operator('after a restart the read models resume from their checkpoint instead of replaying the log', async () => {
  const before = await call(server.url, 'GET', '/v1/admin/projections', { token: tokens.operator });
  assert.is(await server.stop(), 0);

  server = await startServer({ dataDir, env });
  const started = server.output.map((line) => JSON.parse(line)).find((line) => line.message === 'projections started');
  assert.ok(started.from >= before.body.head, `resumed from ${started.from}, head was ${before.body.head}`);
  assert.ok(started.from > 0);

  const listed = await call(server.url, 'GET', '/v1/functions', { token: tokens.ada });
  assert.equal(listed.body.functions.map((f: { name: string }) => f.name), ['sleeper', 'upper']);
  const history = await call(server.url, 'GET', `/v1/functions/${ada.functionId}/executions`, { token: tokens.ada });
  assert.equal(history.body.executions.map((e: { executionId: string }) => e.executionId), [...ada.executionIds].reverse());
  assert.is(await server.stop(), 0);
});

operator('faasbox projections rebuild replays the log into read models equal to the live ones', () => {
  const status = faasbox('projections', 'status', '--json', '--digest');
  assert.is(status.status, 0, status.stderr);
  const live = JSON.parse(status.stdout) as { head: number; projections: { name: string; checkpoint: number; lag: number; digest: string }[] };
  assert.equal(live.projections.map((p) => p.name), ['users', 'functions', 'executions', 'streams-by-user', 'callbacks']);
  for (const projection of live.projections) {
    assert.is(projection.checkpoint, live.head);
    assert.is(projection.lag, 0);
  }

  const rebuilt = faasbox('projections', 'rebuild', '--json');
  assert.is(rebuilt.status, 0, rebuilt.stderr);
  const summary = JSON.parse(rebuilt.stdout) as { events: number; eventsPerSecond: number; projections: { name: string; digestBefore: string; digestAfter: string }[] };
  // The embedded store numbers events 1, 2, 3…; an EventStoreDB position is a log offset.
  if (eventStoreUrl === undefined) assert.is(summary.events, live.head, 'every event was replayed');
  assert.ok(summary.eventsPerSecond > 0);
  assert.match(rebuilt.stderr, /rebuilding .*100%/, 'the progress bar reached the end');
  for (const projection of summary.projections) {
    assert.is(projection.digestAfter, live.projections.find((p) => p.name === projection.name)!.digest, projection.name);
    assert.is(projection.digestBefore, projection.digestAfter);
  }

  const one = faasbox('projections', 'rebuild', 'functions', '--json');
  assert.is(one.status, 0, one.stderr);
  assert.equal(JSON.parse(one.stdout).projections.map((p: { name: string }) => p.name), ['functions']);
  const unknown = faasbox('projections', 'rebuild', 'nonsense');
  assert.is(unknown.status, 2);
  assert.match(unknown.stderr, /users, functions, executions, streams-by-user/);
});

operator('faasbox audit prints a stream, and the whole history of an email across accounts, masked', () => {
  const stream = faasbox('audit', `function-${ada.functionId}`, '--json');
  assert.is(stream.status, 0, stream.stderr);
  const [created] = jsonLines(stream.stdout);
  assert.is(created.type, 'FunctionCreated');
  assert.equal(created.data.env, { API_KEY: '***' });
  assert.type(created.correlationId, 'string');
  assert.type(created.recordedAt, 'string');

  const history = faasbox('audit', '--user', ada.email, '--json');
  assert.is(history.status, 0, history.stderr);
  const entries = jsonLines(history.stdout);
  const positions = entries.map((e) => e.position);
  assert.equal(positions, [...positions].sort((a, b) => a - b), 'in the order of the global log');
  const types = entries.map((e) => e.type);
  assert.is(types.filter((t) => t === 'UserRegistered').length, 2, 'both accounts');
  assert.ok(types.includes('UserDeleted') && types.includes('EmailReleased'));
  assert.ok(types.includes('FunctionDeleted'), "the deleted account's function too");
  assert.is(types.filter((t) => t === 'ExecutionSucceeded').length, 2);
  assert.not.match(history.stdout, /\$2[aby]\$|first-account-secret|sk-live-secret-value/);

  // A slot is released because its execution ended: the release names that event as its cause.
  const execution = jsonLines(faasbox('audit', `execution-${ada.executionIds[1]}`, '--json').stdout);
  const ended = execution.find((e) => e.type === 'ExecutionSucceeded');
  const slots = jsonLines(faasbox('audit', `slots-${ada.id}`, '--json').stdout);
  const released = slots.filter((e) => e.type === 'SlotReleased' && e.data.executionId === ada.executionIds[1]);
  assert.is(released.length, 1, JSON.stringify(slots));
  assert.is(released[0].causationId, ended.id);
  assert.is(released[0].correlationId, ended.correlationId);

  const text = faasbox('audit', `user-${ada.id}`);
  assert.match(text.stdout, /^#0 @\d+ \S+ UserRegistered correlation=\S+ .*"passwordHash":"\*\*\*"/m);

  const missing = faasbox('audit', 'user-nobody');
  assert.is(missing.status, 2);
  assert.match(missing.stderr, /no stream named user-nobody/);
  assert.is(faasbox('audit').status, 2);
});

operator.after(async () => {
  await registry?.stop();
});

operator.run();
