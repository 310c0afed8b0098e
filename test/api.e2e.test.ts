import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sign } from 'hono/jwt';
import { type ServerProcess, startServer } from './support/server-process.ts';
import { signUp } from './support/api.ts';
import { assertProblem, call, uniqueEmail } from './support/http-client.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { ensureTestImages } from './support/test-images.ts';

const SECRET = 'e2e-secret-that-is-at-least-32-bytes-long!';
const PASSWORD = 'correct horse battery';
let server: ServerProcess;
/** Holds the image the functions name: creating one resolves its tag there. */
let registry: Registry;
let image: string;
const api = (method: string, path: string, options?: Parameters<typeof call>[3]) => call(server.url, method, path, options);

const newUser = (tag = 'user') => signUp(server.url, { tag, password: PASSWORD });

const decodeJwt = (token: string) => {
  const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  return { header, payload };
};

type OpenApiResponse = { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> };
type OpenApiOperation = {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, OpenApiResponse>;
  operationId?: string;
};
type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, any>; securitySchemes: Record<string, unknown> };
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const operationsOf = (doc: OpenApiDocument) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );

/** No validator is installed, so the structural rules of OpenAPI 3.1 that a mistake here would break. */
function assertStructurallyValid(doc: OpenApiDocument) {
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.type(doc.info.title, 'string');
  assert.ok(doc.info.version, 'info.version is empty');
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    assert.match(path, /^\//);
    for (const key of Object.keys(item)) assert.ok(METHODS.includes(key) || key === 'parameters', `${path}: ${key} is no method`);
  }
  for (const { method, path, operation } of operationsOf(doc)) {
    const where = `${method.toUpperCase()} ${path}`;
    assert.ok(Object.keys(operation.responses).length > 0, `${where} has no responses`);
    for (const [status, response] of Object.entries(operation.responses)) {
      assert.match(status, /^([1-5]\d\d|[1-5]XX|default)$/, `${where}: ${status} is no status`);
      assert.type(response.description, 'string', `${where} ${status} has no description`);
    }
    const templated = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
    const inPath = (operation.parameters ?? []).filter((parameter) => parameter.in === 'path');
    assert.equal(inPath.map((parameter) => parameter.name).sort(), templated, `${where}: path parameters`);
    for (const parameter of inPath) assert.is(parameter.required, true, `${where}: path parameter ${parameter.name} is not required`);
    const seen = (operation.parameters ?? []).map((parameter) => `${parameter.in}:${parameter.name}`);
    assert.is(new Set(seen).size, seen.length, `${where}: a parameter is listed twice`);
    if (operation.operationId) {
      assert.not.ok(operationIds.has(operation.operationId), `${where}: operationId ${operation.operationId} is not unique`);
      operationIds.add(operation.operationId);
    }
    if (operation.requestBody) assert.ok(Object.keys(operation.requestBody.content).length > 0, `${where}: a body without content`);
    for (const requirement of operation.security ?? []) {
      for (const scheme of Object.keys(requirement)) assert.ok(doc.components.securitySchemes[scheme], `${where}: unknown scheme ${scheme}`);
    }
  }
  // Every reference is local and resolves: Swagger UI would otherwise fetch it, or fail to draw it.
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((child, i) => walk(child, `${at}/${i}`));
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref') {
        assert.type(value, 'string');
        assert.match(value as string, /^#\//, `${at}: $ref ${String(value)} is not local`);
        const target = (value as string)
          .slice(2)
          .split('/')
          .reduce<any>((parent, part) => parent?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
        assert.ok(target !== undefined, `${at}: $ref ${String(value)} resolves to nothing`);
      } else walk(value, `${at}/${key}`);
    }
  };
  walk(doc, '#');
}

// The first test starts the server, so a failed start fails a test instead of vanishing in a hook.
const start = suite('api: start');
start('the platform starts on a fresh data directory and reports healthy and ready; a loopback registry holds the test images', async () => {
  registry = await startRegistry();
  image = (await ensureTestImages(registry.address)).echo;
  server = await startServer({ env: { FAASBOX_JWT_SECRET: SECRET } });
  assert.is((await api('GET', '/healthz')).status, 200);
  const ready = await api('GET', '/readyz');
  assert.is(ready.status, 200);
  assert.is(ready.body.status, 'ready');
});
start.run();

const users = suite('api: users');

users('registration returns the user without password data and normalizes the email', async () => {
  const raw = `  ${uniqueEmail('Case').toUpperCase()}  `;
  const reply = await api('POST', '/v1/users', { json: { email: raw, password: PASSWORD } });
  assert.is(reply.status, 201);
  assert.equal(Object.keys(reply.body).sort(), ['createdAt', 'email', 'id']);
  assert.is(reply.body.email, raw.trim().toLowerCase());
  assert.match(reply.body.id, /^[0-9a-f-]{36}$/);
  assert.not.match(JSON.stringify(reply.body), /password|hash|\$2/i);
});

users('an email registered twice, in any case, is refused with 409', async () => {
  const email = uniqueEmail('twice');
  assert.is((await api('POST', '/v1/users', { json: { email, password: PASSWORD } })).status, 201);
  assertProblem(await api('POST', '/v1/users', { json: { email: email.toUpperCase(), password: 'another password' } }), 409);
});

users('20 parallel registrations of one email: exactly one succeeds', async () => {
  const email = uniqueEmail('race');
  const replies = await Promise.all(
    Array.from({ length: 20 }, (_, i) => api('POST', '/v1/users', { json: { email, password: `password-${i}` } })),
  );
  const statuses = replies.map((reply) => reply.status);
  assert.is(statuses.filter((status) => status === 201).length, 1, statuses.join(','));
  assert.is(statuses.filter((status) => status === 409).length, 19, statuses.join(','));
  for (const reply of replies.filter((r) => r.status === 409)) assertProblem(reply, 409);
  // Only the winner's password opens the account.
  const winner = replies.findIndex((reply) => reply.status === 201);
  assert.is((await api('POST', '/v1/tokens', { json: { email, password: `password-${winner}` } })).status, 200);
});

users('invalid registrations get 400 naming the field', async () => {
  const cases: [unknown, string][] = [
    [{ email: 'not-an-email', password: PASSWORD }, 'email'],
    [{ email: uniqueEmail(), password: 'short' }, 'password'],
    [{ email: uniqueEmail(), password: 'x'.repeat(73) }, 'password'],
    [{ email: uniqueEmail(), password: '🔒'.repeat(19) }, 'password'], // 19 characters, 76 bytes
    [{ email: uniqueEmail() }, 'password'],
    [{ email: 42, password: PASSWORD }, 'email'],
    [{ email: uniqueEmail(), password: PASSWORD, admin: true }, '(body)'],
    [[], '(body)'],
    [null, '(body)'],
  ];
  for (const [json, field] of cases) {
    const reply = await api('POST', '/v1/users', { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } });
    assertProblem(reply, 400);
    assert.ok(
      reply.body.errors.some((error: { field: string }) => error.field === field),
      `${JSON.stringify(json)} → ${JSON.stringify(reply.body)}`,
    );
  }
  const tooLong = await api('POST', '/v1/users', { json: { email: uniqueEmail(), password: 'x'.repeat(73) } });
  assert.match(tooLong.body.detail, /72 bytes/);
});

users('a 72-byte password is accepted and is the whole password', async () => {
  const email = uniqueEmail('long');
  const password = 'é'.repeat(36); // 72 bytes in UTF-8
  assert.is((await api('POST', '/v1/users', { json: { email, password } })).status, 201);
  assert.is((await api('POST', '/v1/tokens', { json: { email, password } })).status, 200);
  assertProblem(await api('POST', '/v1/tokens', { json: { email, password: 'é'.repeat(35) + 'e' } }), 401);
});

users('malformed JSON → 400, wrong media type → 415, oversized body → 413', async () => {
  assertProblem(await api('POST', '/v1/users', { body: '{"email": ', headers: { 'content-type': 'application/json' } }), 400);
  assertProblem(await api('POST', '/v1/users', { body: 'email=a', headers: { 'content-type': 'text/plain' } }), 415);
  const huge = JSON.stringify({ email: uniqueEmail(), password: PASSWORD, padding: 'x'.repeat(1024 * 1024) });
  assertProblem(await api('POST', '/v1/users', { body: huge, headers: { 'content-type': 'application/json' } }), 413);
});

users('GET /v1/users/me returns the caller', async () => {
  const user = await newUser('me');
  const reply = await api('GET', '/v1/users/me', { token: user.token });
  assert.is(reply.status, 200);
  assert.is(reply.body.id, user.id);
  assert.is(reply.body.email, user.email);
});

users.run();

const tokens = suite('api: tokens');

tokens('a token is HS256 with sub = user id, email, jti, iat and an exp one hour later', async () => {
  const user = await newUser('claims');
  const { header, payload } = decodeJwt(user.token);
  assert.is(header.alg, 'HS256');
  assert.is(payload.sub, user.id);
  assert.is(payload.email, user.email);
  assert.type(payload.jti, 'string');
  assert.is(payload.exp - payload.iat, 3600);
  assert.not.match(JSON.stringify(payload), /password|hash/i);
});

tokens('logging in again while the token is fresh returns the same token', async () => {
  const user = await newUser('again');
  const again = await api('POST', '/v1/tokens', { json: { email: user.email, password: PASSWORD } });
  assert.is(again.status, 200);
  assert.is(again.body.token, user.token);
  assert.is(again.headers.get('cache-control'), 'no-store');
});

tokens('unknown email and wrong password get the same 401', async () => {
  const user = await newUser('wrong');
  const wrong = await api('POST', '/v1/tokens', { json: { email: user.email, password: 'not the password' } });
  const unknown = await api('POST', '/v1/tokens', { json: { email: uniqueEmail('nobody'), password: 'not the password' } });
  assertProblem(wrong, 401);
  assertProblem(unknown, 401);
  // RFC 9110: a 401 names the scheme to use, a login's too.
  assert.is(wrong.headers.get('www-authenticate'), 'Bearer realm="faasbox"');
  const { correlationId: _a, ...wrongBody } = wrong.body;
  const { correlationId: _b, ...unknownBody } = unknown.body;
  assert.equal(wrongBody, unknownBody);
});

tokens('repeated wrong passwords are throttled with 429 and Retry-After, even for the right password', async () => {
  const user = await newUser('brute');
  let throttled: Awaited<ReturnType<typeof api>> | undefined;
  for (let attempt = 0; attempt < 10 && !throttled; attempt++) {
    const reply = await api('POST', '/v1/tokens', { json: { email: user.email, password: `guess-${attempt}-xx` } });
    if (reply.status === 429) throttled = reply;
    else assertProblem(reply, 401);
  }
  assert.ok(throttled, 'never throttled');
  assertProblem(throttled!, 429);
  assert.ok(Number(throttled!.headers.get('retry-after')) >= 1);
  assertProblem(await api('POST', '/v1/tokens', { json: { email: user.email, password: PASSWORD } }), 429);
  // Another account from the same address is not locked by it.
  const other = await newUser('bystander');
  assert.is((await api('POST', '/v1/tokens', { json: { email: other.email, password: PASSWORD } })).status, 200);
});

tokens.run();

const auth = suite('api: authentication');

auth('no token, a malformed token or another scheme → 401 problem with a Bearer challenge', async () => {
  const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer nonsense' }, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer ' }];
  for (const headers of attempts) {
    const reply = await api('GET', '/v1/users/me', { headers });
    assertProblem(reply, 401);
    assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer/);
  }
});

auth('forged tokens are refused', async () => {
  const user = await newUser('forged');
  const { payload } = decodeJwt(user.token);
  const now = Math.floor(Date.now() / 1000);
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const [head, , signature] = user.token.split('.');
  const forged: Record<string, string> = {
    'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`,
    'HS512 with the right secret': await sign(payload, SECRET, 'HS512'),
    'wrong secret': await sign(payload, 'another-secret-that-is-32-bytes-long!!', 'HS256'),
    'tampered claims': `${head}.${b64({ ...payload, sub: crypto.randomUUID() })}.${signature}`,
    'no exp': await sign({ ...payload, exp: undefined }, SECRET, 'HS256'),
    'string exp': await sign({ ...payload, exp: String(payload.exp) }, SECRET, 'HS256'),
    expired: await sign({ ...payload, iat: now - 7200, exp: now - 3600 }, SECRET, 'HS256'),
    'future nbf': await sign({ ...payload, nbf: now + 3600 }, SECRET, 'HS256'),
    'future iat': await sign({ ...payload, iat: now + 3600 }, SECRET, 'HS256'),
    'jti never issued': await sign({ ...payload, jti: crypto.randomUUID() }, SECRET, 'HS256'),
    'another email': await sign({ ...payload, email: 'someone@example.com' }, SECRET, 'HS256'),
  };
  for (const [name, token] of Object.entries(forged)) {
    const reply = await api('GET', '/v1/users/me', { token });
    assert.is(reply.status, 401, `${name} was accepted`);
    assertProblem(reply, 401);
  }
  assert.is((await api('GET', '/v1/users/me', { token: user.token })).status, 200);
});

auth.run();

const functions = suite('api: functions');
const fn = { name: 'hello', command: ['echo', 'hi'], env: { GREETING: 'hi' }, get image() { return image; } };

functions('a created function is listed at once, with defaults filled in', async () => {
  const user = await newUser('fn');
  const created = await api('POST', '/v1/functions', { token: user.token, json: fn });
  assert.is(created.status, 201, JSON.stringify(created.body));
  assert.is(created.headers.get('location'), `/v1/functions/${created.body.id}`);
  assert.match(created.body.imageDigest, /^sha256:[0-9a-f]{64}$/);
  assert.equal({ ...created.body, id: undefined, createdAt: undefined, versionCreatedAt: undefined }, {
    ...fn,
    imageDigest: created.body.imageDigest,
    id: undefined,
    createdAt: undefined,
    versionCreatedAt: undefined,
    version: 1,
    rolledBackFrom: null,
    secrets: {},
    timeoutMs: 30_000,
    memoryMb: 128,
    minWarm: 0,
    reuse: false,
    retry: null,
  });
  const listed = await api('GET', '/v1/functions', { token: user.token });
  assert.is(listed.status, 200);
  assert.equal(listed.body.functions, [created.body]);
  const one = await api('GET', `/v1/functions/${created.body.id}`, { token: user.token });
  assert.equal(one.body, created.body);
});

functions('the list holds only the caller’s functions, newest first', async () => {
  const [a, b] = [await newUser('list-a'), await newUser('list-b')];
  const first = await api('POST', '/v1/functions', { token: a.token, json: { ...fn, name: 'first' } });
  const second = await api('POST', '/v1/functions', { token: a.token, json: { ...fn, name: 'second' } });
  await api('POST', '/v1/functions', { token: b.token, json: { ...fn, name: 'theirs' } });
  const listed = await api('GET', '/v1/functions', { token: a.token });
  assert.equal(listed.body.functions.map((f: { id: string }) => f.id), [second.body.id, first.body.id]);
});

functions('another user’s function: 403 to read or delete; unknown or malformed ids: 404', async () => {
  const [owner, stranger] = [await newUser('owner'), await newUser('stranger')];
  const created = await api('POST', '/v1/functions', { token: owner.token, json: fn });
  assertProblem(await api('GET', `/v1/functions/${created.body.id}`, { token: stranger.token }), 403);
  assertProblem(await api('DELETE', `/v1/functions/${created.body.id}`, { token: stranger.token }), 403);
  assertProblem(await api('GET', `/v1/functions/${crypto.randomUUID()}`, { token: owner.token }), 404);
  assertProblem(await api('DELETE', `/v1/functions/${crypto.randomUUID()}`, { token: owner.token }), 404);
  for (const id of ['not-a-uuid', '..%2F..%2Fetc%2Fpasswd', '%00']) {
    assertProblem(await api('GET', `/v1/functions/${id}`, { token: owner.token }), 404);
  }
  assert.is((await api('GET', `/v1/functions/${created.body.id}`, { token: owner.token })).status, 200);
});

functions('deleting a function: 200, then gone from reads and lists; a second delete is 404', async () => {
  const user = await newUser('del');
  const created = await api('POST', '/v1/functions', { token: user.token, json: fn });
  const deleted = await api('DELETE', `/v1/functions/${created.body.id}`, { token: user.token });
  assert.is(deleted.status, 200);
  assert.equal(deleted.body, { deleted: true });
  assertProblem(await api('GET', `/v1/functions/${created.body.id}`, { token: user.token }), 404);
  assert.equal((await api('GET', '/v1/functions', { token: user.token })).body.functions, []);
  assertProblem(await api('DELETE', `/v1/functions/${created.body.id}`, { token: user.token }), 404);
});

functions('invalid function fields get 400 naming the field, and nothing is created', async () => {
  const user = await newUser('invalid');
  const cases: [Record<string, unknown>, string][] = [
    [{ ...fn, name: '' }, 'name'],
    [{ ...fn, name: '../x' }, 'name'],
    [{ ...fn, image: 'Not An Image' }, 'image'],
    [{ ...fn, image: undefined }, 'image'],
    [{ ...fn, command: 'echo hi' }, 'command'],
    [{ ...fn, command: [] }, 'command'],
    [{ ...fn, command: [1] }, 'command.0'],
    [{ ...fn, env: { A: 1 } }, 'env.A'],
    [{ ...fn, env: { '1A': 'x' } }, 'env'],
    [{ ...fn, timeoutMs: 10_000_000 }, 'timeoutMs'],
    [{ ...fn, timeoutMs: 1.5 }, 'timeoutMs'],
    [{ ...fn, memoryMb: -1 }, 'memoryMb'],
    [{ ...fn, memoryMb: '128' }, 'memoryMb'],
    [{ ...fn, owner: 'someone' }, '(body)'],
  ];
  for (const [json, field] of cases) {
    const reply = await api('POST', '/v1/functions', { token: user.token, json });
    assertProblem(reply, 400);
    assert.ok(
      reply.body.errors.some((error: { field: string }) => error.field.startsWith(field)),
      `${JSON.stringify(json)} → ${JSON.stringify(reply.body.errors)}`,
    );
  }
  const proto = await api('POST', '/v1/functions', {
    token: user.token,
    body: `{"name":"p","image":"busybox","env":{"__proto__":"x"}}`,
    headers: { 'content-type': 'application/json' },
  });
  assertProblem(proto, 400);
  assert.equal((await api('GET', '/v1/functions', { token: user.token })).body.functions, []);
});

functions.run();

const deletion = suite('api: deleting a user');

deletion('revokes its tokens, deletes its functions and frees its email for a new user', async () => {
  const user = await newUser('leaver');
  const created = await api('POST', '/v1/functions', { token: user.token, json: fn });
  const deleted = await api('DELETE', '/v1/users/me', { token: user.token });
  assert.is(deleted.status, 200);
  assert.equal(deleted.body, { deleted: true });

  for (const [method, path] of [
    ['GET', '/v1/users/me'],
    ['GET', '/v1/functions'],
    ['GET', `/v1/functions/${created.body.id}`],
    ['DELETE', '/v1/users/me'],
  ] as const) {
    assertProblem(await api(method, path, { token: user.token }), 401);
  }
  assertProblem(await api('POST', '/v1/tokens', { json: { email: user.email, password: PASSWORD } }), 401);

  const again = await api('POST', '/v1/users', { json: { email: user.email, password: 'a new password' } });
  assert.is(again.status, 201);
  assert.is.not(again.body.id, user.id);
  const login = await api('POST', '/v1/tokens', { json: { email: user.email, password: 'a new password' } });
  assert.is(login.status, 200);
  assert.equal((await api('GET', '/v1/functions', { token: login.body.token })).body.functions, []);
});

deletion.run();

const misc = suite('api: errors and documents');

misc('unknown routes and methods → 404 problem+json', async () => {
  assertProblem(await api('GET', '/v1/nothing-here'), 404);
  assertProblem(await api('PATCH', '/v1/users'), 404);
});

misc('every answer carries a correlation id; a safe one offered by the caller is echoed', async () => {
  const reply = await api('GET', '/v1/nothing', { headers: { 'x-request-id': 'trace-123' } });
  assert.is(reply.headers.get('x-request-id'), 'trace-123');
  assert.is(reply.body.correlationId, 'trace-123');
  const unsafe = await api('GET', '/healthz', { headers: { 'x-request-id': 'a b\tc' } });
  assert.match(unsafe.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

misc('/openapi.json documents every route, every error answer and the bearer scheme', async () => {
  const reply = await api('GET', '/openapi.json');
  assert.is(reply.status, 200);
  const doc = reply.body as OpenApiDocument;
  assertStructurallyValid(doc);
  assert.equal(Object.keys(doc.paths).sort(), [
    '/healthz',
    '/openapi.json',
    '/readyz',
    '/v1/admin/dead-letters',
    '/v1/admin/executions',
    '/v1/admin/metrics/history',
    '/v1/admin/projections',
    '/v1/admin/projections/active-executions',
    '/v1/admin/streams/{name}',
    '/v1/admin/users/{email}',
    '/v1/admin/workers',
    '/v1/callbacks/signing-key',
    '/v1/dead-letters',
    '/v1/dead-letters/redrive',
    '/v1/dead-letters/{id}',
    '/v1/dead-letters/{id}/redrive',
    '/v1/executions/{id}',
    '/v1/functions',
    '/v1/functions/{id}',
    '/v1/functions/{id}/executions',
    '/v1/functions/{id}/rollback',
    '/v1/functions/{id}/versions',
    '/v1/secrets',
    '/v1/secrets/{name}',
    '/v1/tokens',
    '/v1/users',
    '/v1/users/me',
  ]);
  assert.equal(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  assert.equal([...doc.components.schemas.Problem.required].sort(), ['detail', 'status', 'title', 'type']);
  assert.match(doc.info.description, /problem\+json/);

  // Public by design (docs/architecture.md, "HTTP"): no token, no 4xx of their own. /metrics, should it be documented.
  const publicPaths = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);
  const declaredTags = new Map(doc.tags.map((tag) => [tag.name, tag.description]));
  for (const { method, path, operation } of operationsOf(doc)) {
    const where = `${method.toUpperCase()} ${path}`;
    const { responses } = operation;
    const statuses = Object.keys(responses);
    if (!publicPaths.has(path)) {
      assert.ok(statuses.some((status) => /^4\d\d$/.test(status)), `${where} documents no 4xx answer`);
      assert.ok(responses['500'], `${where} documents no 500`);
    }
    if (operation.security?.length) {
      assert.ok(responses['401'], `${where} needs a token but documents no 401`);
      assert.ok(responses['401']?.headers?.['WWW-Authenticate'], `${where}: the 401 documents no WWW-Authenticate`);
    }
    // The body limit and the media-type gate answer before any handler runs.
    if (operation.requestBody) assert.ok(responses['413'], `${where} takes a body but documents no 413`);
    if (operation.requestBody?.content['application/json']) assert.ok(responses['415'], `${where} takes JSON but documents no 415`);
    if (responses['429']) assert.ok(responses['429'].headers?.['Retry-After'], `${where}: the 429 documents no Retry-After`);
    for (const [status, response] of Object.entries(responses)) {
      const content = response.content ?? {};
      if (content['application/problem+json']) {
        assert.equal(content['application/problem+json'].schema, { $ref: '#/components/schemas/Problem' }, `${where} ${status}`);
      }
      // Every error is a problem, except a timed-out execution, which answers 504 with the execution.
      const isTimeout = path === '/v1/functions/{id}/executions' && status === '504';
      if (/^[45]/.test(status) && !isTimeout) assert.ok(content['application/problem+json'], `${where} ${status} is no problem+json`);
    }
    assert.ok(operation.summary, `${where} has no summary`);
    for (const tag of operation.tags ?? []) assert.ok(declaredTags.get(tag), `${where}: tag ${tag} is not declared with a description`);
    assert.is(operation.tags?.length, 1, `${where} has no tag`);
  }
  // What docs/architecture.md ("HTTP") promises, spot-checked.
  assert.ok(doc.paths['/v1/users']?.post?.responses['409']);
  assert.ok(doc.paths['/v1/functions/{id}/executions']?.post?.responses['504']);
  assert.ok(doc.paths['/v1/tokens']?.post?.responses['429']);
});

misc('every operation /openapi.json says needs a token answers 401 without one, and every one it says is public does not', async () => {
  const doc = (await api('GET', '/openapi.json')).body as OpenApiDocument;
  const operations = operationsOf(doc);
  const secured = operations.filter(({ operation }) => operation.security?.length);
  assert.ok(secured.length >= 10);
  const concrete = (path: string) => path.replace('{email}', 'a@example.com').replace(/\{\w+\}/g, crypto.randomUUID());
  for (const { method, path } of secured) {
    const reply = await api(method.toUpperCase(), concrete(path));
    assertProblem(reply, 401);
  }
  // `security: []` says so; without it, tools take the operation to need some credential.
  const open = operations.filter(({ operation }) => operation.security?.length === 0);
  assert.equal(open.map(({ method, path }) => `${method.toUpperCase()} ${path}`).sort(), [
    'GET /healthz',
    'GET /openapi.json',
    'GET /readyz',
    'POST /v1/tokens',
    'POST /v1/users',
  ]);
  assert.is(open.length + secured.length, operations.length, 'an operation declares no security at all');
  for (const { method, path } of open) {
    const reply = await api(method.toUpperCase(), concrete(path));
    assert.is.not(reply.status, 401, `${method.toUpperCase()} ${path} is documented as public`);
  }
});

misc('the server shuts down cleanly on SIGTERM and no secret reached its logs', async () => {
  const code = await server.stop();
  await registry.stop();
  assert.is(code, 0);
  const logs = server.output.join('\n');
  assert.not.ok(logs.includes(SECRET), 'the JWT secret was logged');
  assert.not.match(logs, /\$2[aby]\$|correct horse|eyJ[A-Za-z0-9_-]+\.eyJ/);
});

misc.run();
