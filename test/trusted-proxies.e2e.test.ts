import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type ServerProcess, startServer } from './support/server-process.ts';
import { assertProblem, call, uniqueEmail } from './support/http-client.ts';

const PASSWORD = 'correct horse battery';
const ATTACKER = '203.0.113.7';
const OWNER = '198.51.100.20';

/** Fails logins for `email` as if from `address` until the api throttles that address. */
async function throttleFrom(url: string, email: string, address: string) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const reply = await call(url, 'POST', '/v1/tokens', { json: { email, password: 'wrong password!' }, headers: { 'x-forwarded-for': address } });
    if (reply.status === 429) return;
    assert.is(reply.status, 401);
  }
  assert.unreachable('never throttled');
}

const login = (url: string, email: string, address: string) =>
  call(url, 'POST', '/v1/tokens', { json: { email, password: PASSWORD }, headers: { 'x-forwarded-for': address } });

const proxies = suite('client addresses behind a proxy [real server]');
let trusting: ServerProcess;
let plain: ServerProcess;

proxies.before(async () => {
  [trusting, plain] = await Promise.all([startServer({ env: { FAASBOX_TRUSTED_PROXIES: 'loopback' } }), startServer()]);
});
proxies.after(async () => {
  await Promise.all([trusting?.stop(), plain?.stop()]);
});

proxies('behind a trusted proxy, an attacker throttled at its address does not lock the owner out at another', async () => {
  const email = uniqueEmail('proxied');
  assert.is((await call(trusting.url, 'POST', '/v1/users', { json: { email, password: PASSWORD } })).status, 201);
  await throttleFrom(trusting.url, email, ATTACKER);
  assertProblem(await login(trusting.url, email, ATTACKER), 429);
  assert.is((await login(trusting.url, email, OWNER)).status, 200);
  // The right-most untrusted hop counts: a client cannot prepend an address of its choosing.
  assertProblem(await login(trusting.url, email, `${OWNER}, ${ATTACKER}`), 429);
});

proxies('from a peer that is not a trusted proxy, X-Forwarded-For is ignored: a client cannot pick a fresh address', async () => {
  const email = uniqueEmail('direct');
  assert.is((await call(plain.url, 'POST', '/v1/users', { json: { email, password: PASSWORD } })).status, 201);
  await throttleFrom(plain.url, email, ATTACKER);
  assertProblem(await login(plain.url, email, OWNER), 429);
});

proxies.run();
