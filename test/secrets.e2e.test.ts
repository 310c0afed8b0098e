/**
 * Secrets over the real parts (issue 19): a server process with its master key, the real engine
 * and agent, a loopback registry, and the files the server leaves on disk. A secret reaches the
 * function and nothing else (every answer, every log line, the operator's audit); the master key
 * is rotated with `faasbox keys rotate` without touching an event; deleting the user leaves the
 * event log on disk with ciphertext that no key opens any more.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectNats } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import { decryptValue } from '../src/auth/envelope.ts';
import { loadConfig } from '../src/config.ts';
import { openKeyStore } from '../src/entry/open-key-store.ts';
import { openEventStore } from '../src/entry/open-stores.ts';
import * as api from './support/api.ts';
import { type Reply, call } from './support/http-client.ts';
import { operatorCommandWith } from './support/operator-command.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { ensureTestImages } from './support/test-images.ts';

const VALUE = `s3cr3t-${randomBytes(12).toString('hex')}`;
const ENV_VALUE = `plain-${randomBytes(12).toString('hex')}`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
const dataDir = tempDir('faasbox-secrets-');
const eventStoreUrl = process.env.FAASBOX_EVENTSTORE_URL;
const baseEnv = {
  FAASBOX_JWT_SECRET: 'secrets-e2e-secret-of-at-least-32-bytes!',
  FAASBOX_WORKER_ID: `secrets-e2e-${process.pid}`,
};

let registry: Registry;
let server: ServerProcess;
let user: api.SignedUp;
let functionId: string;
const answers: Reply[] = [];

const start = (masterKey: string) => startServer({ dataDir, env: { ...baseEnv, FAASBOX_MASTER_KEY: masterKey } });
const request = async (method: string, path: string, options: Parameters<typeof call>[3] = {}) => {
  const reply = await call(server.url, method, path, options);
  answers.push(reply);
  return reply;
};
/** Runs the function and answers its stdout: the digests of the secret and of the plain variable it was given. */
async function runOnce(): Promise<string> {
  const reply = await request('POST', `/v1/functions/${functionId}/executions`, { token: user.token, body: '' });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  assert.is(reply.body.status, 'succeeded', JSON.stringify(reply.body));
  return reply.body.stdout as string;
}
const answered = () => answers.map((reply) => `${[...reply.headers].join(' ')} ${JSON.stringify(reply.body)}`).join('\n');

const secrets = suite('secrets end to end: one place only, rotation, and deletion');

secrets('a secret reaches the function, and no answer, log line or audit entry', async () => {
  registry = await startRegistry();
  const image = (await ensureTestImages(registry.address)).busybox;
  server = await start(keyA);
  user = await api.signUp(server.url, { tag: 'secrets' });
  assert.is((await request('PUT', '/v1/secrets/db-password', { token: user.token, json: { value: VALUE } })).status, 201);
  const created = await request('POST', '/v1/functions', {
    token: user.token,
    json: {
      name: 'uses-secret',
      image,
      // The digest of what it got, never the value: the answer carries stdout.
      // Digests only: its stdout is stored in the execution's events, and the value must not be.
      command: ['sh', '-c', 'printf %s "$DB_PASSWORD" | sha256sum | cut -d" " -f1; printf %s "$MODE" | sha256sum | cut -d" " -f1'],
      env: { MODE: ENV_VALUE },
      secrets: { DB_PASSWORD: 'db-password' },
    },
  });
  assert.is(created.status, 201, JSON.stringify(created.body));
  functionId = created.body.id;
  assert.is(await runOnce(), `${sha256(VALUE)}\n${sha256(ENV_VALUE)}\n`);

  const audit = operatorCommandWith(dataDir, {}, 'audit', '--user', user.email, '--json');
  assert.is(audit.status, 0, audit.stderr);
  assert.match(audit.stdout, /"SecretCreated"/);
  for (const [where, text] of [
    ['an answer', answered()],
    ['a log line of the server', server.output.join('\n')],
    ['the audit', audit.stdout + audit.stderr],
  ] as const) {
    assert.not.ok(text.includes(VALUE), `${where} holds the secret`);
  }
  assert.not.ok(audit.stdout.includes(ENV_VALUE), 'the audit holds an env value');
});

secrets('the master key is rotated without an event written: after it the new key alone opens everything', async () => {
  assert.is(await server.stop(), 0);
  const eventsBefore = await countEvents();
  const refused = operatorCommandWith(dataDir, { FAASBOX_MASTER_KEY: keyB }, 'keys', 'rotate');
  assert.is(refused.status, 2, 'rotating without the old key given must refuse');
  assert.match(refused.stderr, /FAASBOX_MASTER_KEY_PREVIOUS/);
  const rotated = operatorCommandWith(dataDir, { FAASBOX_MASTER_KEY: keyB, FAASBOX_MASTER_KEY_PREVIOUS: keyA }, 'keys', 'rotate', '--json');
  assert.is(rotated.status, 0, rotated.stderr);
  assert.equal(JSON.parse(rotated.stdout), { rewrapped: 1 });
  assert.is(await countEvents(), eventsBefore);

  server = await start(keyB);
  assert.is(await runOnce(), `${sha256(VALUE)}\n${sha256(ENV_VALUE)}\n`);
});

secrets("deleting the user leaves the log on disk holding ciphertext that nothing opens", async () => {
  const storedSecret = await secretCiphertext();
  assert.match(storedSecret, /^fbx1\./);
  const keys = await openKeyStore(loadConfig({ FAASBOX_DATA_DIR: dataDir, FAASBOX_MASTER_KEY: keyB }), openBetterSqlite3, connectNats);
  const binding = { userId: user.id, purpose: 'secret:db-password' };
  try {
    assert.is(await decryptValue(storedSecret, (await keys.get(user.id))!, binding), VALUE, 'the key opens it while the user lives');
    assert.is((await request('DELETE', '/v1/users/me', { token: user.token })).status, 200);
    assert.is(await keys.get(user.id), null);
  } finally {
    await keys.close();
  }
  assert.is(await server.stop(), 0);
  for (const file of readdirSync(dataDir).filter((name) => name.endsWith('.sqlite') || name.endsWith('-wal'))) {
    const bytes = readFileSync(join(dataDir, file)).toString('latin1');
    assert.not.ok(bytes.includes(VALUE), `${file} holds the secret`);
    assert.not.ok(bytes.includes(ENV_VALUE), `${file} holds the env value`);
  }
  // The history replays: the events are all there, and the secret's is still the same ciphertext.
  assert.is(await secretCiphertext(), storedSecret);
});

secrets.after(async () => {
  if (server?.child.exitCode === null) await server.stop();
  await registry?.stop();
});

/** The user's events, read from the server's store (SQLite here, EventStoreDB in its workflow). */
async function userEvents() {
  const store = await openEventStore(loadConfig({ FAASBOX_DATA_DIR: dataDir, ...(eventStoreUrl ? { FAASBOX_EVENTSTORE_URL: eventStoreUrl } : {}) }), openBetterSqlite3);
  try {
    const streams = [`user-${user.id}`, `secrets-${user.id}`, `function-${functionId}`];
    return (await Promise.all(streams.map((stream) => store.readStream(stream)))).flat();
  } finally {
    await store.close();
  }
}

const countEvents = async () => (await userEvents()).length;

/** The stored value of the user's secret, as the raw event holds it (the audit masks it). */
async function secretCiphertext(): Promise<string> {
  const created = (await userEvents()).find((event) => event.type === 'SecretCreated');
  return (created!.data as { value: string }).value;
}

secrets.run();
