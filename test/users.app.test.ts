/**
 * Users in process: registration, login and deletion through the app, over the memory store,
 * with the store made to conflict or fail where the commands must cope (src/commands/
 * register-user.ts, issue-token.ts, delete-user.ts, handle-command.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { emailStream, functionStream, userStream } from '../src/domain/streams.ts';
import { DEFAULT_PASSWORD, createFunction, logIn, signUp } from './support/api.ts';
import { barrier, conflict } from './support/faults.ts';
import { eventually } from './support/eventually.ts';
import { assertProblem, uniqueEmail } from './support/http-client.ts';
import { IMAGE, type InProcessApp, withApp } from './support/in-process-app.ts';

const users = suite('users [app in process]');

const register = (app: InProcessApp, email: string, password = DEFAULT_PASSWORD) =>
  app.request('POST', '/v1/users', { json: { email, password } });
const login = (app: InProcessApp, email: string, password = DEFAULT_PASSWORD) =>
  app.request('POST', '/v1/tokens', { json: { email, password } });

/** Every UserRegistered in the store for `email`: an account is one of these. */
const accountsOf = async (app: InProcessApp, email: string) =>
  (await app.stored.readAll()).filter((event) => event.type === 'UserRegistered' && (event.data as { email: string }).email === email);

users('sign up, log in, GET /v1/users/me: the account the token names', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request, { tag: 'me' });
    const me = await app.request('GET', '/v1/users/me', { token: user.token });
    assert.is(me.status, 200);
    assert.equal(me.body, { id: user.id, email: user.email, createdAt: app.clock.now().toISOString() });
  });
});

users('twenty registrations of one email at once: one 201, nineteen 409, one account, the winner logs in', async () => {
  await withApp({ worker: false }, async (app) => {
    const email = uniqueEmail('race');
    const stream = await emailStream(email);
    // All twenty read "no reservation" and append at once: nineteen must lose on the revision.
    app.store.beforeAppend('email-', barrier(20), 20);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, n) => register(app, email, `password-${n}`)));

    const statuses = replies.map((reply) => reply.status).sort();
    assert.equal(statuses, [201, ...Array<number>(19).fill(409)]);
    for (const reply of replies.filter((r) => r.status === 409)) assertProblem(reply, 409);
    assert.is(app.store.conflicts.get(stream), 19, 'every loser met the conflict and was decided again');
    assert.equal((await app.events(stream)).map((event) => event.type), ['EmailReserved']);
    assert.is((await accountsOf(app, email)).length, 1);
    const winner = replies.findIndex((reply) => reply.status === 201);
    assert.is((await login(app, email, `password-${winner}`)).status, 200);
    assertProblem(await login(app, email, `password-${(winner + 1) % 20}`), 401);
  });
});

users('a conflict on the email stream is retried: the registration is decided again and succeeds', async () => {
  await withApp({ worker: false }, async (app) => {
    const email = uniqueEmail('retried');
    app.store.beforeAppend('email-', conflict);
    const reply = await register(app, email);
    assert.is(reply.status, 201, JSON.stringify(reply.body));
    assert.is(app.store.conflicts.get(await emailStream(email)), 1);
    assert.equal((await app.events(await emailStream(email))).map((event) => event.type), ['EmailReserved']);
    assert.is((await login(app, email)).status, 200);
  });
});

users('another registration of the email lands between the read and the append: decided again on it, 409', async () => {
  await withApp({ worker: false }, async (app) => {
    const email = uniqueEmail('overtaken');
    let first: Awaited<ReturnType<typeof register>> | undefined;
    // The registration under test has read "free" and hashed; another one completes first.
    app.store.beforeAppend('email-', async () => {
      first = await register(app, email, 'the first one password');
    });
    const second = await register(app, email, 'the second one password');
    assert.is(first?.status, 201, JSON.stringify(first?.body));
    assertProblem(second, 409);
    assert.is((await accountsOf(app, email)).length, 1);
    assert.is((await login(app, email, 'the first one password')).status, 200);
    assertProblem(await login(app, email, 'the second one password'), 401);
  });
});

users('a stream that conflicts on every attempt: the command gives up with a 500, nothing recorded', async () => {
  await withApp({ worker: false }, async (app) => {
    const email = uniqueEmail('hopeless');
    app.store.beforeAppend('email-', conflict, Number.POSITIVE_INFINITY);
    assertProblem(await register(app, email), 500);
    const conflicts = app.store.conflicts.get(await emailStream(email)) ?? 0;
    assert.ok(conflicts > 1 && conflicts < 100, `retried a bounded number of times, not ${conflicts}`);
    assert.equal(await app.events(await emailStream(email)), []);
    assert.equal(await accountsOf(app, email), []);
  });
});

users('login: a wrong password and an unknown email get one answer; after six failures even the right password gets 429', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request, { tag: 'login' });
    const wrong = await login(app, user.email, 'not the password');
    const unknown = await login(app, uniqueEmail('nobody'), 'not the password');
    assertProblem(wrong, 401);
    assertProblem(unknown, 401);
    assert.is(wrong.body.detail, unknown.body.detail);
    assert.is(wrong.body.type, unknown.body.type);
    for (let attempt = 2; attempt <= 6; attempt++) assertProblem(await login(app, user.email, `wrong guess ${attempt}`), 401);
    const refused = await login(app, user.email, user.password);
    assertProblem(refused, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`);
  });
});

users('a token is handed out again while over half its life is left; past that, a new one that works', async () => {
  await withApp({ worker: false }, async (app) => {
    const email = uniqueEmail('reissue');
    // Issued 31 minutes ago (the lifetime is an hour): less than half of it is left now.
    app.clock.set(new Date(Date.now() - 31 * 60_000));
    const registered = await register(app, email);
    assert.is(registered.status, 201);
    const tokensIssued = async () => (await app.events(userStream(registered.body.id))).filter((event) => event.type === 'TokenIssued').length;
    const old = await logIn(app.request, email);
    assert.is(await logIn(app.request, email), old, 'the same token while over half its life is left');
    assert.is(await tokensIssued(), 1);

    app.clock.set(new Date());
    const fresh = await logIn(app.request, email);
    assert.is.not(fresh, old);
    assert.is(await tokensIssued(), 2);
    assert.is((await app.request('GET', '/v1/users/me', { token: fresh })).status, 200);
    assert.is((await app.request('GET', '/v1/users/me', { token: old })).status, 200, 'the old one still lives out its life');
  });
});

users("a login that races the account's deletion: 401, and no token recorded for the deleted account", async () => {
  await withApp({ worker: false }, async (app) => {
    const email = uniqueEmail('racing');
    const registered = await register(app, email);
    assert.is(registered.status, 201);
    const { id } = registered.body;
    const token = await logIn(app.request, email);
    // Expire the first token's reuse, so the next login must record a new one.
    app.clock.advance(31 * 60_000);
    // The password checked out; the account is deleted before the new token is appended.
    let deleted: number | undefined;
    app.store.beforeAppend(userStream(id), async () => {
      deleted = (await app.request('DELETE', '/v1/users/me', { token })).status;
    });
    assertProblem(await login(app, email), 401);
    assert.is(deleted, 200);
    assert.equal((await app.events(userStream(id))).map((event) => event.type), ['UserRegistered', 'TokenIssued', 'UserDeleted']);
  });
});

users('DELETE /v1/users/me: its tokens stop working at once, its functions are deleted, its email is free', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request, { tag: 'leaver' });
    const fn = await createFunction(app.request, user.token, { image: IMAGE });
    const deleted = await app.request('DELETE', '/v1/users/me', { token: user.token });
    assert.is(deleted.status, 200, JSON.stringify(deleted.body));
    assert.equal(deleted.body, { deleted: true });

    for (const [method, path] of [
      ['GET', '/v1/users/me'],
      ['GET', '/v1/functions'],
      ['GET', `/v1/functions/${fn.id}`],
      ['POST', `/v1/functions/${fn.id}/executions`],
      ['DELETE', '/v1/users/me'],
    ] as const) {
      assertProblem(await app.request(method, path, { token: user.token }), 401);
    }
    assertProblem(await login(app, user.email), 401);
    assert.equal((await app.events(functionStream(fn.id))).map((event) => event.type), ['FunctionCreated', 'FunctionDeleted']);

    const again = await signUp(app.request, { email: user.email, password: 'a new password' });
    assert.is.not(again.id, user.id);
    assert.equal((await app.request('GET', '/v1/functions', { token: again.token })).body.functions, []);
  });
});

users("a function its owner deletes while the account is being deleted: the account's deletion still completes", async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request, { tag: 'both' });
    const fn = await createFunction(app.request, user.token, { image: IMAGE });
    let concurrent: number | undefined;
    // The account's deletion has listed the function; the owner deletes it before the account goes.
    app.store.beforeAppend(userStream(user.id), async () => {
      concurrent = (await app.request('DELETE', `/v1/functions/${fn.id}`, { token: user.token })).status;
    });
    const deleted = await app.request('DELETE', '/v1/users/me', { token: user.token });
    assert.is(concurrent, 200);
    assert.is(deleted.status, 200, JSON.stringify(deleted.body));
    assert.equal((await app.events(functionStream(fn.id))).map((event) => event.type), ['FunctionCreated', 'FunctionDeleted']);
    assertProblem(await app.request('GET', '/v1/users/me', { token: user.token }), 401);
  });
});

users('an api that fails between deleting the user and freeing the email: the user is gone, the email can be taken again', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request, { tag: 'half-deleted' });
    app.store.beforeAppend('email-', () => {
      throw new Error('the store went away');
    });
    assertProblem(await app.request('DELETE', '/v1/users/me', { token: user.token }), 500);
    // The failed request did not wait for the read models; the token dies as soon as they follow.
    await eventually('the token revoked', 2_000, async () =>
      (await app.request('GET', '/v1/users/me', { token: user.token })).status === 401 ? true : undefined,
    10);
    assert.equal((await app.events(await emailStream(user.email))).map((event) => event.type), ['EmailReserved'], 'still held');

    const successor = await signUp(app.request, { email: user.email, password: 'the successor password' });
    assert.is.not(successor.id, user.id);
    assertProblem(await login(app, user.email, user.password), 401);
  });
});

users('a registration that died between reserving the email and recording the user: the email is free after 30 s, not before', async () => {
  await withApp({ worker: false }, async (app) => {
    const email = uniqueEmail('abandoned');
    app.store.beforeAppend('user-', () => {
      throw new Error('the api died here');
    });
    assertProblem(await register(app, email), 500);
    assert.equal(await accountsOf(app, email), []);
    assertProblem(await register(app, email), 409);

    app.clock.advance(31_000);
    const taken = await register(app, email);
    assert.is(taken.status, 201, JSON.stringify(taken.body));
    assert.is((await accountsOf(app, email)).length, 1);
    assert.is((await login(app, email)).status, 200);
  });
});

users.run();
