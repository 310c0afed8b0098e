/**
 * JWT attacks: tokens forged here with node:crypto (the server's secret is ours, set with
 * FAASBOX_JWT_SECRET) against the bearer middleware every secured route shares. Each forged
 * token is one change away from a control (the same claims, HS256, the real secret) that the
 * server accepts, so every 401 below is the server noticing that one change.
 *
 * Decided by RFC 6750 §2.1 (`credentials = "Bearer" 1*SP b64token`) and RFC 9110 §11.1 (the
 * scheme is case-insensitive): `bearer` and `BEARER` are accepted, and so is more than one space
 * between scheme and token, or a tab (HTTP whitespace; it grants nothing). Whitespace inside the
 * token, a second token, any other scheme, and a token anywhere but the Authorization header
 * (query, cookie, form body: RFC 6750 §2.2 and §2.3 are optional, and the query one leaks into
 * logs) are refused.
 */
import { createHmac, createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Reply, call, uniqueEmail } from '../support/http-client.ts';
import { grantOperator } from '../support/operator-command.ts';
import { type Registry, startRegistry } from '../support/registry.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { ensureTestImages } from '../support/test-images.ts';
import { reportFigure } from './support/report.ts';

const SECRET = randomBytes(32).toString('base64url');
const PASSWORD = 'correct horse battery';

type Claims = Record<string, unknown>;
type Account = { id: string; email: string; token: string; claims: Claims };
/** A request that needs a token, and what it answers to a good one. */
type Target = { method: string; path: string; json?: unknown; ok: number };
/** What an attack puts in the request: an Authorization header, or a token somewhere else. */
type Attempt = { authorization?: string; query?: string; cookie?: string; form?: string };

let server: ServerProcess | undefined;
/** Holds the image of the functions made with a token: creating one resolves its tag there. */
let registry: Registry | undefined;
let image: string | undefined;
const imageOf = () => {
  if (image === undefined) throw new Error('no registry: see the first test');
  return image;
};
let user: Account | undefined;
let other: Account | undefined;
let operator: Account | undefined;
const url = () => {
  if (server === undefined) throw new Error('the server did not start: see the first test');
  return server.url;
};
const accounts = () => {
  if (user === undefined || other === undefined || operator === undefined) throw new Error('no accounts: see the first test');
  return { user, other, operator };
};

// ---------------------------------------------------------------------------------------------
// Forging.

const encodePart = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const HS256 = { alg: 'HS256', typ: 'JWT' };

/** header.payload, signed by `signer`; `signer` null leaves the signature part off (no trailing dot). */
function forge(header: unknown, payload: unknown, signer: ((input: string) => string) | null): string {
  const input = `${encodePart(header)}.${encodePart(payload)}`;
  return signer === null ? input : `${input}.${signer(input)}`;
}

const hmac = (hash: 'sha256' | 'sha384' | 'sha512', key: string | Buffer) => (input: string) => createHmac(hash, key).update(input).digest('base64url');
const withSecret = hmac('sha256', SECRET);
/** The same claims the server would sign: accepted whenever the claims are. */
const signed = (payload: unknown, header: unknown = HS256) => forge(header, payload, withSecret);

const decodeClaims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Claims;
const withoutClaim = (claims: Claims, name: string) => Object.fromEntries(Object.entries(claims).filter(([key]) => key !== name));
/** Swaps the payload of a signed token and keeps its signature: tampering without the key. */
const tampered = (token: string, claims: Claims) => {
  const [header, , signature] = token.split('.');
  return `${header}.${encodePart(claims)}.${signature}`;
};
const flipLastSignatureChar = (token: string) => token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
const now = () => Math.floor(Date.now() / 1000);

const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rs256 = (input: string) => createSign('RSA-SHA256').update(input).sign(attacker.privateKey).toString('base64url');
const publicKeyPem = attacker.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const attackerSecret = randomBytes(32);

/** Every attack, by name, as built from the accounts' real tokens and claims. */
function attacks(): Record<string, Attempt> {
  const { user: victim, other: bystander, operator: admin } = accounts();
  const claims = victim.claims;
  const bearer = (token: string): Attempt => ({ authorization: `Bearer ${token}` });
  const [header = '', payload = '', signature = ''] = victim.token.split('.');
  return {
    // alg: none, every way it has been smuggled past libraries.
    'alg none, empty signature': bearer(forge({ alg: 'none', typ: 'JWT' }, claims, () => '')),
    'alg none, no signature part': bearer(forge({ alg: 'none', typ: 'JWT' }, claims, null)),
    'alg None, empty signature': bearer(forge({ alg: 'None', typ: 'JWT' }, claims, () => '')),
    'alg NONE, the real signature kept': bearer(forge({ alg: 'NONE', typ: 'JWT' }, claims, () => signature)),
    'alg none, the HS256 signature of these claims': bearer(forge({ alg: 'none', typ: 'JWT' }, claims, withSecret)),
    'no alg at all': bearer(forge({ typ: 'JWT' }, claims, withSecret)),
    // The right key, the wrong algorithm: the algorithm is pinned, not read from the token.
    'HS384 with the real secret': bearer(forge({ alg: 'HS384', typ: 'JWT' }, claims, hmac('sha384', SECRET))),
    'HS512 with the real secret': bearer(forge({ alg: 'HS512', typ: 'JWT' }, claims, hmac('sha512', SECRET))),
    // Asymmetric tricks.
    'RS256 signed with an attacker key': bearer(forge({ alg: 'RS256', typ: 'JWT' }, claims, rs256)),
    'RS256 header, HS256 with the public key PEM as secret': bearer(forge({ alg: 'RS256', typ: 'JWT' }, claims, hmac('sha256', publicKeyPem))),
    'HS256 with the public key PEM as secret (RS/HS confusion)': bearer(forge(HS256, claims, hmac('sha256', publicKeyPem))),
    'HS256 with an embedded jwk of the attacker': bearer(
      forge({ ...HS256, jwk: { kty: 'oct', k: attackerSecret.toString('base64url') } }, claims, hmac('sha256', attackerSecret)),
    ),
    'HS256 with a jku pointing elsewhere, attacker key': bearer(forge({ ...HS256, jku: 'http://127.0.0.1:9/jwks.json', kid: 'x' }, claims, hmac('sha256', attackerSecret))),
    // Bad signatures.
    'HS256 with another secret': bearer(forge(HS256, claims, hmac('sha256', `${SECRET}x`))),
    'HS256 with an empty secret': bearer(forge(HS256, claims, hmac('sha256', ''))),
    'one character of the signature changed': bearer(flipLastSignatureChar(victim.token)),
    'signature of another user’s token': bearer(`${header}.${payload}.${bystander.token.split('.')[2]}`),
    'signature cut short': bearer(victim.token.slice(0, -10)),
    'signature doubled': bearer(`${victim.token}${signature}`),
    'signature part not base64url': bearer(`${header}.${payload}.${signature.slice(0, -4)}+/+/`),
    // Claims changed after signing.
    'sub changed to another user, not re-signed': bearer(tampered(victim.token, { ...claims, sub: bystander.id })),
    'email changed to an operator’s, not re-signed': bearer(tampered(victim.token, { ...claims, email: admin.email })),
    'sub and email of the operator, not re-signed': bearer(tampered(victim.token, { ...claims, sub: admin.id, email: admin.email })),
    'exp pushed a year on, not re-signed': bearer(tampered(victim.token, { ...claims, exp: now() + 365 * 86400 })),
    // Signed with the real secret, yet not a token Faasbox would issue.
    'missing exp': bearer(signed(withoutClaim(claims, 'exp'))),
    'exp as the string "9999999999"': bearer(signed({ ...claims, exp: '9999999999' })),
    'exp null': bearer(signed({ ...claims, exp: null })),
    'exp an object': bearer(signed({ ...claims, exp: { value: 9999999999 } })),
    'exp an array': bearer(signed({ ...claims, exp: [9999999999] })),
    'exp true': bearer(signed({ ...claims, exp: true })),
    'exp 1e309 (Infinity once parsed)': bearer(forge(HS256, `${JSON.stringify(claims).slice(0, -1)},"exp":1e309}`, withSecret)),
    'expired a minute ago': bearer(signed({ ...claims, exp: now() - 60 })),
    'expiring this very second': bearer(signed({ ...claims, exp: now() })),
    'nbf an hour ahead': bearer(signed({ ...claims, nbf: now() + 3600 })),
    'nbf a string': bearer(signed({ ...claims, nbf: '0' })),
    'iat an hour ahead': bearer(signed({ ...claims, iat: now() + 3600 })),
    'iat missing': bearer(signed(withoutClaim(claims, 'iat'))),
    'jti missing': bearer(signed(withoutClaim(claims, 'jti'))),
    'sub missing': bearer(signed(withoutClaim(claims, 'sub'))),
    'email missing': bearer(signed(withoutClaim(claims, 'email'))),
    'sub a number': bearer(signed({ ...claims, sub: 1 })),
    'a jti never issued': bearer(signed({ ...claims, jti: randomUUID() })),
    'another user’s jti with this user’s sub and email': bearer(signed({ ...claims, jti: bystander.claims.jti })),
    'this jti with another user’s sub and email': bearer(signed({ ...claims, sub: bystander.id, email: bystander.email })),
    'this jti and sub with the operator’s email': bearer(signed({ ...claims, email: admin.email })),
    'the claims only under __proto__': bearer(forge(HS256, `{"__proto__":${JSON.stringify(claims)}}`, withSecret)),
    'payload null': bearer(signed('null')),
    'payload an array': bearer(signed([claims])),
    'payload a string': bearer(signed('"claims"')),
    'payload not JSON': bearer(forge(HS256, '{"sub":', withSecret)),
    'header null': bearer(forge('null', claims, withSecret)),
    'header with a crit extension': bearer(signed(claims, { ...HS256, crit: ['exp'] })),
    'typ other than JWT': bearer(signed(claims, { alg: 'HS256', typ: 'at+jwt' })),
    // The shape of the header and of the token.
    'empty Authorization header': { authorization: '' },
    'scheme alone': { authorization: 'Bearer' },
    'scheme and a space (trimmed by HTTP)': { authorization: 'Bearer ' },
    'no scheme, the token alone': { authorization: victim.token },
    'Basic with the real email and password': { authorization: `Basic ${Buffer.from(`${victim.email}:${PASSWORD}`).toString('base64')}` },
    'Token scheme': { authorization: `Token ${victim.token}` },
    'JWT scheme': { authorization: `JWT ${victim.token}` },
    'Bearer: with a colon': { authorization: `Bearer:${victim.token}` },
    'Bearer= with an equals sign': { authorization: `Bearer=${victim.token}` },
    'a space inside the token': { authorization: `Bearer ${header}.${payload} .${signature}` },
    'the token split in two by a space': { authorization: `Bearer ${victim.token.slice(0, 40)} ${victim.token.slice(40)}` },
    'a word after the token': { authorization: `Bearer ${victim.token} extra` },
    'a comma after the token': { authorization: `Bearer ${victim.token},` },
    'two tokens in one header (two headers, as joined)': { authorization: `Bearer ${victim.token}, Bearer ${victim.token}` },
    'an empty token part': bearer('..'),
    'four parts': bearer(`${victim.token}.${signature}`),
    'a huge token (12 KB)': bearer(`${header}.${'A'.repeat(12_000)}.${signature}`),
    'the valid token padded with 10 KB': bearer(`${victim.token}${'A'.repeat(10_000)}`),
    'the literal null': bearer('null'),
    // The token anywhere but the header.
    'in the query as access_token': { query: `access_token=${victim.token}` },
    'in the query as token': { query: `token=${victim.token}` },
    'in a cookie': { cookie: `token=${victim.token}; jwt=${victim.token}; access_token=${victim.token}` },
    'in a form body as access_token': { form: `access_token=${victim.token}` },
  };
}

/** Variants RFC 6750 and RFC 9110 allow: the same token, accepted. */
function acceptedVariants(): Record<string, Attempt> {
  const { user: victim } = accounts();
  return {
    'the issued token': { authorization: `Bearer ${victim.token}` },
    'the same claims signed here with the secret': { authorization: `Bearer ${signed(victim.claims)}` },
    'scheme in lower case': { authorization: `bearer ${victim.token}` },
    'scheme in upper case': { authorization: `BEARER ${victim.token}` },
    'two spaces after the scheme (1*SP)': { authorization: `Bearer  ${victim.token}` },
    'a tab after the scheme': { authorization: `Bearer\t${victim.token}` },
  };
}

function targets(): Target[] {
  return [
    { method: 'GET', path: '/v1/users/me', ok: 200 },
    { method: 'GET', path: '/v1/functions', ok: 200 },
    { method: 'POST', path: '/v1/functions', json: { name: 'made-by-token', image: imageOf() }, ok: 201 },
    { method: 'GET', path: `/v1/functions/${randomUUID()}/executions`, ok: 404 },
  ];
}

function attempt(target: Target, how: Attempt): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (how.authorization !== undefined) headers.authorization = how.authorization;
  if (how.cookie !== undefined) headers.cookie = how.cookie;
  const path = how.query === undefined ? target.path : `${target.path}?${how.query}`;
  if (how.form !== undefined) {
    return call(url(), target.method, path, { headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: how.form });
  }
  return call(url(), target.method, path, { headers, ...(target.json === undefined ? {} : { json: target.json }) });
}

const TRACE = /\bat (?:[^\s()]+ ){0,3}\(?[^\s()]+:\d+:\d+\)?|node_modules|\.ts:\d+|\.js:\d+/;

function assertUnauthorized(reply: Reply, where: string) {
  const seen = `${where} → ${reply.status} ${JSON.stringify(reply.body)}`;
  assert.is(reply.status, 401, seen);
  assert.is(reply.headers.get('content-type'), 'application/problem+json', seen);
  assert.is(reply.body.status, 401, seen);
  assert.is(reply.body.title, 'Unauthorized', seen);
  assert.is(reply.body.type, 'urn:faasbox:problem:unauthorized', seen);
  assert.type(reply.body.detail, 'string', seen);
  assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${seen}: no Bearer challenge`);
  // The challenge names no URL: a token sent in the query string once came back in it.
  assert.not.match(reply.headers.get('www-authenticate') ?? '', /eyJ/, `${seen}: a token echoed in the challenge`);
  assert.not.match(JSON.stringify(reply.body), TRACE, seen);
  assert.not.ok(JSON.stringify(reply.body).includes(SECRET), seen);
}

async function newAccount(tag: string, email = uniqueEmail(tag)): Promise<Account> {
  const created = await call(url(), 'POST', '/v1/users', { json: { email, password: PASSWORD } });
  assert.is(created.status, 201, JSON.stringify(created.body));
  const login = await call(url(), 'POST', '/v1/tokens', { json: { email, password: PASSWORD } });
  assert.is(login.status, 200, JSON.stringify(login.body));
  const token = login.body.token as string;
  return { id: created.body.id as string, email, token, claims: decodeClaims(token) };
}

const functionsOf = async (account: Account) => (await call(url(), 'GET', '/v1/functions', { token: account.token })).body.functions as { name: string }[];

// ---------------------------------------------------------------------------------------------

const test = suite('jwt attacks');

test('setup: a platform whose JWT secret the test knows, a user, a bystander and an operator; a loopback registry with an image', async () => {
  registry = await startRegistry();
  image = (await ensureTestImages(registry.address)).echo;
  server = await startServer({
    env: { FAASBOX_JWT_SECRET: SECRET, FAASBOX_BCRYPT_COST: '10', FAASBOX_WORKER_ID: `jwt-attacks-${process.pid}` },
  });
  [user, other, operator] = await Promise.all([newAccount('jwt-user'), newAccount('jwt-other'), newAccount('jwt-operator')]);
  grantOperator(server.dataDir, operator.email);
  assert.equal(Object.keys(user.claims).sort(), ['email', 'exp', 'iat', 'jti', 'sub']);
});

test('control: the issued token, the same claims signed here, and what RFC 6750 allows are accepted on every target', async () => {
  const { user: victim } = accounts();
  // The forger here writes exactly what the server signs: the 401s below differ from this by one change.
  assert.is(signed(victim.claims), victim.token);
  const replies = await Promise.all(
    targets().flatMap((target) =>
      Object.entries(acceptedVariants()).map(async ([name, how]) => ({ where: `${name} on ${target.method} ${target.path}`, target, reply: await attempt(target, how) })),
    ),
  );
  for (const { where, target, reply } of replies) assert.is(reply.status, target.ok, `${where} → ${reply.status} ${JSON.stringify(reply.body)}`);
  reportFigure('jwt-attacks: accepted variants', { variants: Object.keys(acceptedVariants()), targets: targets().length, accepted: replies.length });
});

test('every forged, tampered, misplaced or malformed token gets 401 problem+json with a Bearer challenge, on every target', async () => {
  const { user: victim, operator: admin } = accounts();
  const before = (await functionsOf(victim)).length;
  const all = Object.entries(attacks());
  const replies = await Promise.all(
    [...targets(), { method: 'GET', path: '/v1/admin/projections', ok: 200 }].flatMap((target) =>
      all
        // A form body goes with a POST only: fetch sends no body with a GET.
        .filter(([, how]) => how.form === undefined || target.method === 'POST')
        .map(async ([name, how]) => ({ where: `${name} on ${target.method} ${target.path}`, reply: await attempt(target, how) })),
    ),
  );
  const accepted = replies.filter(({ reply }) => reply.status !== 401).map(({ where, reply }) => `${where} → ${reply.status}`);
  reportFigure('jwt-attacks: forged tokens', { attacks: all.length, targets: targets().length + 1, requests: replies.length, refused401: replies.length - accepted.length });
  assert.equal(accepted, [], 'these were not refused with 401');
  for (const { where, reply } of replies) assertUnauthorized(reply, where);
  // None of the POSTs with a bad token created anything.
  assert.is((await functionsOf(victim)).length, before);
  // The operator's own token still opens what the escalation attempts could not.
  assert.is((await call(url(), 'GET', '/v1/admin/projections', { token: admin.token })).status, 200);
});

test('a deleted user’s tokens stop working, even re-signed, and stay dead when the email is registered again', async () => {
  const doomed = await newAccount('jwt-doomed');
  assert.is((await call(url(), 'POST', '/v1/functions', { token: doomed.token, json: { name: 'doomed-fn', image: imageOf() } })).status, 201);
  const deleted = await call(url(), 'DELETE', '/v1/users/me', { token: doomed.token });
  assert.is(deleted.status, 200, JSON.stringify(deleted.body));
  assert.equal(deleted.body, { deleted: true });

  const oldTokens = { 'the issued token': doomed.token, 'its claims re-signed': signed(doomed.claims) };
  for (const [name, token] of Object.entries(oldTokens)) {
    for (const target of targets()) assertUnauthorized(await attempt(target, { authorization: `Bearer ${token}` }), `${name} on ${target.method} ${target.path}`);
  }
  // Deleting again with the dead token is refused, not a second deletion.
  assertUnauthorized(await call(url(), 'DELETE', '/v1/users/me', { token: doomed.token }), 'DELETE /v1/users/me again');

  const reborn = await newAccount('jwt-doomed', doomed.email);
  assert.is.not(reborn.id, doomed.id);
  assert.equal(await functionsOf(reborn), [], 'the new account inherited the deleted one’s functions');
  const replayed = {
    'the old token': doomed.token,
    'the old jti with the new sub': signed({ ...doomed.claims, sub: reborn.id }),
    'the new jti with the old sub': signed({ ...reborn.claims, sub: doomed.id }),
  };
  for (const [name, token] of Object.entries(replayed)) {
    assertUnauthorized(await call(url(), 'GET', '/v1/users/me', { token }), `${name} after the email was registered again`);
  }
  const me = await call(url(), 'GET', '/v1/users/me', { token: reborn.token });
  assert.is(me.status, 200);
  assert.is(me.body.id, reborn.id);
});

test.after(async () => {
  await server?.stop();
  await registry?.stop();
});

test.run();
