/**
 * A callback over the real platform: `npm start` with FAASBOX_CALLBACK_HOSTS naming a receiver on
 * loopback, a busybox function run by the Docker engine, and the signed record POSTed to the
 * receiver once it ended, verified here with node:crypto.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_PASSWORD, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { runFaasboxCli } from './support/faasbox-cli.ts';
import { assertProblem, call } from './support/http-client.ts';
import { startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { ensureTestImages } from './support/test-images.ts';

type Received = { path: string; headers: IncomingHttpHeaders; body: string };

let registry: Awaited<ReturnType<typeof startRegistry>>;
let server: ServerProcess;
let image: string;
let receiver: Server;
let receiverPort: number;
const received: Received[] = [];

const e2e = suite('callbacks [one process, Docker engine]');

// Started in a test, not a hook: uvu would swallow a failed start.
e2e('a receiver on loopback, and the platform allowing it as a callback host', async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(received.length === 1 ? 503 : 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverPort = (receiver.address() as AddressInfo).port;
  registry = await startRegistry();
  image = (await ensureTestImages(registry.address)).busybox;
  server = await startServer({ env: { FAASBOX_CALLBACK_HOSTS: `127.0.0.1:${receiverPort}`, FAASBOX_EXECUTION_GRACE_MS: '5000' } });
});

e2e('an async execution with a callback: the signed record reaches the receiver, after one failed attempt', async () => {
  const user = await signUp(server.url);
  const fn = await createFunction(server.url, user.token, { image, command: ['sh', '-c', 'tr a-z A-Z'] });
  const callbackUrl = `http://127.0.0.1:${receiverPort}/faasbox?ref=e2e`;
  const queued = await call(server.url, 'POST', `/v1/functions/${fn.id}/executions?wait=false&callback=${encodeURIComponent(callbackUrl)}`, {
    token: user.token,
    body: 'hello callbacks',
  });
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  const executionId = queued.body.executionId as string;

  const record = await eventually('the callback delivered', 60_000, async () => {
    const reply = await call(server.url, 'GET', `/v1/executions/${executionId}`, { token: user.token });
    return reply.body.callback?.state === 'delivered' ? reply.body : undefined;
  }, 200);
  assert.is(record.status, 'succeeded');
  assert.is(record.stdout, 'HELLO CALLBACKS');
  assert.equal(record.callback.url, callbackUrl);
  assert.equal(record.callback.deliveries.map((delivery: { attempt: number; status: number }) => [delivery.attempt, delivery.status]), [
    [1, 503],
    [2, 200],
  ]);

  assert.is(received.length, 2);
  const { key } = (await call(server.url, 'GET', '/v1/callbacks/signing-key', { token: user.token })).body;
  for (const request of received) {
    assert.is(request.path, '/faasbox?ref=e2e');
    assert.is(request.headers['faasbox-delivery'], executionId);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(request.headers['faasbox-signature'])) ?? [];
    const expected = createHmac('sha256', Buffer.from(key, 'base64url')).update(`${t}.${request.body}`).digest();
    assert.ok(v1 !== undefined && timingSafeEqual(expected, Buffer.from(v1, 'hex')), 'the signature verifies');
    assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 300, 'signed now');
  }
  const { callback: _, ...withoutCallback } = record;
  assert.equal(JSON.parse(received[1]!.body), withoutCallback);
  // No line of the server's log holds the signature.
  assert.not.ok(server.output.some((line) => line.includes(String(received[0]!.headers['faasbox-signature']))));
});

e2e('faasbox fn invoke --async --callback: the record reaches the receiver', async () => {
  const user = await signUp(server.url);
  const fn = await createFunction(server.url, user.token, { image, command: ['cat'] });
  const home = tempDir('faasbox-cli-');
  const env = { HOME: home, XDG_CONFIG_HOME: `${home}/.config`, FAASBOX_URL: server.url };
  const login = await runFaasboxCli(['login', '--email', user.email], { env, input: `${DEFAULT_PASSWORD}\n` });
  assert.is(login.status, 0, login.stderr);
  const callbackUrl = `http://127.0.0.1:${receiverPort}/cli`;
  const run = await runFaasboxCli(['fn', 'invoke', fn.id, '--async', '--callback', callbackUrl], { env, input: 'from the cli' });
  assert.is(run.status, 0, run.stderr);
  const executionId = run.stdout.trim();
  const request = await eventually('the callback of the CLI execution', 60_000, async () =>
    received.find((each) => each.headers['faasbox-delivery'] === executionId), 200);
  assert.is(request.path, '/cli');
  assert.is(JSON.parse(request.body).stdout, 'from the cli');
  const refused = await runFaasboxCli(['fn', 'invoke', fn.id, '--callback', callbackUrl], { env, input: 'x' });
  assert.is(refused.status, 2, refused.stderr);
});

e2e('a host the operator did not allow: 400', async () => {
  const user = await signUp(server.url);
  const fn = await createFunction(server.url, user.token, { image, command: ['cat'] });
  const reply = await call(server.url, 'POST', `/v1/functions/${fn.id}/executions?wait=false&callback=${encodeURIComponent('http://127.0.0.2:9/x')}`, {
    token: user.token,
    body: 'x',
  });
  assertProblem(reply, 400);
});

e2e('the platform stops cleanly', async () => {
  assert.is(await server.stop(), 0);
  await registry.stop();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

e2e.run();
