/**
 * Secrets and the encrypted environment in process (src/domain/secrets.ts, src/commands/secrets.ts,
 * function-env.ts, data-keys.ts): set, listed and deleted by name; taken by functions at each
 * call; never in an answer, a log line or an event in the clear; gone for good with their owner.
 * Over the real engine and files on disk: test/secrets.e2e.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { callEnvOf } from '../src/commands/function-env.ts';
import { createMemoryEventStore } from '../src/adapters/event-store/index.ts';
import { createEphemeralKeyStore } from '../src/adapters/key-store/index.ts';
import { functionStream, secretsStream } from '../src/domain/streams.ts';
import type { FunctionDefinition } from '../src/domain/functions.ts';
import { KeyDestroyedError } from '../src/ports/key-store.ts';
import { createFunction, signUp } from './support/api.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, withApp } from './support/in-process-app.ts';

const secrets = suite('secrets [app in process]');

const VALUE = 'pg-pass-8d1f0c3e-never-shown';
const ENV_VALUE = 'env-value-51c2aa-kept-encrypted';

/** Every answer a test saw, as text: the value must be in none. */
function recorder(app: InProcessApp) {
  const seen: string[] = [];
  const request: InProcessApp['request'] = async (method, path, options) => {
    const reply = await app.request(method, path, options);
    seen.push(`${method} ${path} ${reply.status} ${[...reply.headers].join(' ')} ${JSON.stringify(reply.body)}`);
    return reply;
  };
  return { request, seen };
}

/** The value nowhere: not in answers, not in what the api and workers logged, not in any stored event in the clear. */
async function assertNowhere(app: InProcessApp, seen: string[], ...values: string[]) {
  const stored = JSON.stringify(await app.stored.readAll());
  const logged = JSON.stringify(app.logs);
  for (const value of values) {
    assert.not.ok(seen.some((answer) => answer.includes(value)), `an answer holds ${value}`);
    assert.not.ok(logged.includes(value), `a log line holds ${value}`);
    assert.not.ok(stored.includes(value), `the event log holds ${value} in the clear`);
  }
}

secrets('set, listed by name, set again, deleted: never with the value', async () => {
  await withApp({ worker: false }, async (app) => {
    const { request, seen } = recorder(app);
    const user = await signUp(app.request);
    const created = await request('PUT', '/v1/secrets/db-password', { token: user.token, json: { value: VALUE } });
    assert.is(created.status, 201, JSON.stringify(created.body));
    assert.is(created.headers.get('location'), '/v1/secrets/db-password');
    const at = app.clock.now().toISOString();
    assert.equal(created.body, { name: 'db-password', createdAt: at, updatedAt: at });

    app.clock.advance(1000);
    const changed = await request('PUT', '/v1/secrets/db-password', { token: user.token, json: { value: `${VALUE}-2` } });
    assert.is(changed.status, 200);
    assert.equal(changed.body, { name: 'db-password', createdAt: at, updatedAt: app.clock.now().toISOString() });
    await request('PUT', '/v1/secrets/api.token', { token: user.token, json: { value: 'x' } });

    const listed = await request('GET', '/v1/secrets', { token: user.token });
    assert.is(listed.status, 200);
    assert.equal(
      listed.body.secrets.map((secret: { name: string }) => secret.name),
      ['api.token', 'db-password'],
    );
    assert.equal((await request('DELETE', '/v1/secrets/api.token', { token: user.token })).body, { deleted: true });
    assertProblem(await request('DELETE', '/v1/secrets/api.token', { token: user.token }), 404);
    assert.equal((await request('GET', '/v1/secrets', { token: user.token })).body.secrets.map((secret: { name: string }) => secret.name), ['db-password']);

    // Stored encrypted, bound to the user and the name.
    const events = await app.events(secretsStream(user.id));
    assert.equal(events.map((event) => event.type), ['SecretCreated', 'SecretChanged', 'SecretCreated', 'SecretDeleted']);
    assert.match(String((events[0]!.data as { value: string }).value), /^fbx1\./);
    await assertNowhere(app, seen, VALUE);
  });
});

secrets('a bad name or value is a 400 naming it, and nothing is stored', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const cases: [string, unknown, string][] = [
      ['-starts-with-dash', { value: 'v' }, 'name'],
      ['x'.repeat(129), { value: 'v' }, 'name'],
      ['ok', { value: '' }, 'value'],
      ['ok', { value: 'a\u0000b' }, 'value'],
      ['ok', { value: 'é'.repeat(8 * 1024 + 1) }, 'value'],
      ['ok', { value: 'v', extra: 1 }, '(body)'],
      ['ok', { value: 42 }, 'value'],
    ];
    for (const [name, body, field] of cases) {
      const refused = await app.request('PUT', `/v1/secrets/${encodeURIComponent(name)}`, { token: user.token, json: body });
      assertProblem(refused, 400);
      assert.ok(
        refused.body.errors.some((error: { field: string }) => error.field === field),
        `${name} ${JSON.stringify(body).slice(0, 40)}: ${JSON.stringify(refused.body.errors)}`,
      );
      assert.not.ok(JSON.stringify(refused.body).includes('a\u0000b'));
    }
    assert.equal(await app.events(secretsStream(user.id)), []);
    assertProblem(await app.request('GET', '/v1/secrets'), 401);
  });
});

secrets("one user's secrets are theirs: another sees none, deletes none, and cannot take one", async () => {
  await withApp({ worker: false }, async (app) => {
    const ada = await signUp(app.request, { tag: 'ada' });
    const eve = await signUp(app.request, { tag: 'eve' });
    await app.request('PUT', '/v1/secrets/db', { token: ada.token, json: { value: VALUE } });
    assert.equal((await app.request('GET', '/v1/secrets', { token: eve.token })).body, { secrets: [] });
    assertProblem(await app.request('DELETE', '/v1/secrets/db', { token: eve.token }), 404);
    const taken = await app.request('POST', '/v1/functions', { token: eve.token, json: { name: 'steal', image: IMAGE, secrets: { DB: 'db' } } });
    assertProblem(taken, 400);
    assert.is(taken.body.type, 'urn:faasbox:problem:unknown-secret');
    assert.equal(taken.body.unknownSecrets, ['db']);
  });
});

secrets('a function takes its secrets at each call, apart from its env; a new value reaches the next call with no new version', async () => {
  await withApp({}, async (app) => {
    const { request, seen } = recorder(app);
    const user = await signUp(app.request);
    await request('PUT', '/v1/secrets/db', { token: user.token, json: { value: VALUE } });
    const fn = await createFunction(request, user.token, { image: IMAGE, env: { MODE: ENV_VALUE }, secrets: { DB_PASSWORD: 'db' } });
    assert.equal(fn.secrets, { DB_PASSWORD: 'db' });
    assert.equal(fn.env, { MODE: ENV_VALUE });

    const first = await request('POST', `/v1/functions/${fn.id}/executions`, { token: user.token, body: 'in' });
    assert.is(first.status, 200, JSON.stringify(first.body));
    const run = app.runtime.runs.find((each) => each.executionId === first.body.executionId)!;
    assert.equal(run.secretEnv, { DB_PASSWORD: VALUE });
    assert.equal(run.env, { MODE: ENV_VALUE });

    await request('PUT', '/v1/secrets/db', { token: user.token, json: { value: `${VALUE}-rotated` } });
    const second = await request('POST', `/v1/functions/${fn.id}/executions`, { token: user.token, body: 'in' });
    assert.equal(app.runtime.runs.find((each) => each.executionId === second.body.executionId)!.secretEnv, { DB_PASSWORD: `${VALUE}-rotated` });
    assert.is(second.body.functionVersion, 1);
    await assertNowhere(app, seen, VALUE);
    // The env is its owner's to read back (GET shows it), but the log keeps it encrypted.
    assert.not.ok(JSON.stringify(await app.stored.readAll()).includes(ENV_VALUE));
  });
});

secrets('a variable in both env and secrets, or a secret that does not exist, is refused with nothing stored', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    await app.request('PUT', '/v1/secrets/db', { token: user.token, json: { value: VALUE } });
    const twice = await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'a', image: IMAGE, env: { DB: 'x' }, secrets: { DB: 'db' } } });
    assertProblem(twice, 400);
    assert.is(twice.body.type, 'urn:faasbox:problem:variable-twice');
    const unknown = await app.request('POST', '/v1/functions', { token: user.token, json: { name: 'a', image: IMAGE, secrets: { DB: 'nope' } } });
    assertProblem(unknown, 400);
    assert.equal((await app.request('GET', '/v1/functions', { token: user.token })).body.functions, []);

    const fn = await createFunction(app.request, user.token, { image: IMAGE, env: { DB: 'plain' } });
    const clash = await app.request('PATCH', `/v1/functions/${fn.id}`, { token: user.token, json: { secrets: { DB: 'db' } } });
    assertProblem(clash, 400);
    assert.is(clash.body.type, 'urn:faasbox:problem:variable-twice');
    const moved = await app.request('PATCH', `/v1/functions/${fn.id}`, { token: user.token, json: { env: {}, secrets: { DB: 'db' } } });
    assert.is(moved.status, 200, JSON.stringify(moved.body));
    assert.equal([moved.body.env, moved.body.secrets, moved.body.version], [{}, { DB: 'db' }, 2]);
  });
});

secrets('a secret a function takes cannot be deleted; once no function takes it, it can', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    await app.request('PUT', '/v1/secrets/db', { token: user.token, json: { value: VALUE } });
    const fn = await createFunction(app.request, user.token, { name: 'billing', image: IMAGE, secrets: { DB: 'db' } });
    const refused = await app.request('DELETE', '/v1/secrets/db', { token: user.token });
    assertProblem(refused, 409);
    assert.equal(refused.body.functions, ['billing']);
    assert.is((await app.request('PATCH', `/v1/functions/${fn.id}`, { token: user.token, json: { secrets: {} } })).status, 200);
    assert.is((await app.request('DELETE', '/v1/secrets/db', { token: user.token })).status, 200);
  });
});

secrets('a call of a function whose secret is gone is refused before anything is taken or stored (409)', async () => {
  const store = createMemoryEventStore();
  const keys = await createEphemeralKeyStore();
  const definition = { functionId: 'f', ownerId: 'u', env: {}, secrets: { DB: 'gone' } } as unknown as FunctionDefinition;
  try {
    await callEnvOf({ store, keys }, definition);
    assert.unreachable('a missing secret was given');
  } catch (error) {
    assert.is((error as { code?: string }).code, 'SecretMissing');
    assert.match(String(error), /DB takes the secret gone, which no longer exists/);
  }
});

secrets('the environment is stored encrypted and read in the clear; the same env again makes no version', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const fn = await createFunction(app.request, user.token, { image: IMAGE, env: { A: ENV_VALUE, B: 'b' } });
    const [created] = await app.events(functionStream(fn.id));
    const storedEnv = (created!.data as { env: Record<string, string> }).env;
    assert.equal(Object.keys(storedEnv), ['A', 'B']);
    assert.ok(Object.values(storedEnv).every((value) => value.startsWith('fbx1.')), JSON.stringify(storedEnv));
    assert.equal((await app.request('GET', `/v1/functions/${fn.id}`, { token: user.token })).body.env, { A: ENV_VALUE, B: 'b' });
    assert.equal((await app.request('GET', '/v1/functions', { token: user.token })).body.functions[0].env, { A: ENV_VALUE, B: 'b' });

    const same = await app.request('PATCH', `/v1/functions/${fn.id}`, { token: user.token, json: { env: { B: 'b', A: ENV_VALUE } } });
    assert.is(same.body.version, 1);
    const changed = await app.request('PATCH', `/v1/functions/${fn.id}`, { token: user.token, json: { env: { A: ENV_VALUE, B: 'c' } } });
    assert.is(changed.body.version, 2);
    const updated = (await app.events(functionStream(fn.id)))[1]!.data as { env: Record<string, string> };
    assert.is(updated.env.A, storedEnv.A, 'an unchanged value keeps its ciphertext');
    assert.is.not(updated.env.B, storedEnv.B);
    const versions = await app.request('GET', `/v1/functions/${fn.id}/versions`, { token: user.token });
    assert.equal(versions.body.versions.map((version: { env: unknown }) => version.env), [{ A: ENV_VALUE, B: 'b' }, { A: ENV_VALUE, B: 'c' }]);
  });
});

secrets("deleting the user destroys their data key: their secrets, env and kept stdin no longer decrypt, and nothing new is encrypted for them", async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    await app.request('PUT', '/v1/secrets/db', { token: user.token, json: { value: VALUE } });
    const fn = await createFunction(app.request, user.token, { image: IMAGE, env: { A: ENV_VALUE } });
    const queued = await app.request('POST', `/v1/functions/${fn.id}/executions?wait=false`, { token: user.token, body: 'personal payload' });
    assert.is(queued.status, 202, JSON.stringify(queued.body));
    const [queuedEvent] = await app.events(`execution-${queued.body.executionId}`);
    assert.match(String((queuedEvent!.data as { stdin: string }).stdin), /^fbx1\./);
    assert.ok(await app.keys.get(user.id));

    assert.is((await app.request('DELETE', '/v1/users/me', { token: user.token })).status, 200);
    assert.is(await app.keys.get(user.id), null);
    try {
      await app.keys.getOrCreate(user.id);
      assert.unreachable('a key was made again for a deleted user');
    } catch (error) {
      assert.instance(error, KeyDestroyedError);
    }
    // What stays is ciphertext: the history replays, the values do not come back.
    const stored = JSON.stringify(await app.stored.readAll());
    for (const value of [VALUE, ENV_VALUE, 'personal payload', Buffer.from('personal payload').toString('base64')]) assert.not.ok(stored.includes(value), value);
  });
});

secrets.run();
