/**
 * Operator rights come from `faasbox operators grant`, run against the store, never from an
 * email: registering an address proves nothing about owning it (the platform sends no mail), so
 * an email listed before its owner signed up, or freed by a deletion, was anyone's to take.
 * The real server and the real command share one store; the command runs while the server does.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually } from './support/eventually.ts';
import * as api from './support/api.ts';
import { type Reply, call, uniqueEmail } from './support/http-client.ts';
import { operatorCommand } from './support/operator-command.ts';
import { type ServerProcess, startServer } from './support/server-process.ts';

const PASSWORD = 'operator rights password';
const env = {
  FAASBOX_JWT_SECRET: 'operator-rights-e2e-secret-of-32-bytes!',
  FAASBOX_WORKER_ID: `operator-rights-${process.pid}`,
};
/** The address a deployment meant for its operator, registered by someone else first. */
const listedEmail = uniqueEmail('ops');

let server: ServerProcess;
let adminPaths: (account: { id: string; email: string }) => string[];
let squatter: { id: string; email: string; token: string };

const faasbox = (...args: string[]) => operatorCommand(server.dataDir, ...args);

const signUp = (email: string) => api.signUp(server.url, { email, password: PASSWORD });

async function adminReplies(account: { id: string; email: string; token: string }): Promise<[string, Reply][]> {
  const replies: [string, Reply][] = [];
  for (const path of adminPaths(account)) replies.push([path, await call(server.url, 'GET', path, { token: account.token })]);
  return replies;
}

async function assertDenied(account: { id: string; email: string; token: string }) {
  for (const [path, reply] of await adminReplies(account)) {
    assert.is(reply.status, 403, `${path}: ${JSON.stringify(reply.body)}`);
    assert.is(reply.body.type, 'urn:faasbox:problem:not-operator', path);
  }
}

async function assertAllowed(account: { id: string; email: string; token: string }) {
  for (const [path, reply] of await adminReplies(account)) assert.is(reply.status, 200, `${path}: ${JSON.stringify(reply.body)}`);
}

const accountView = async (account: { email: string }, token: string) =>
  (await call(server.url, 'GET', `/v1/admin/users/${encodeURIComponent(account.email)}`, { token })).body.accounts as {
    id: string;
    operator: boolean;
  }[];

const listedOperators = () => {
  const listed = faasbox('operators', 'ls', '--json');
  assert.is(listed.status, 0, listed.stderr);
  return JSON.parse(listed.stdout) as { operators: { userId: string; email: string }[]; eventsBehind: number };
};

const rights = suite('operator rights: granted by the command against the store, never by an email');

rights('FAASBOX_OPERATORS is refused at start, naming the command that replaces it, and echoes no email', async () => {
  let refusal = '';
  try {
    const started = await startServer({ env: { ...env, FAASBOX_OPERATORS: listedEmail } });
    await started.stop();
  } catch (error) {
    refusal = String(error);
  }
  assert.match(refusal, /server exited with 1/, 'the api started with FAASBOX_OPERATORS set');
  assert.match(refusal, /FAASBOX_OPERATORS no longer grants operator rights/);
  assert.match(refusal, /faasbox operators grant --email/);
  assert.not.match(refusal, new RegExp(listedEmail.replace(/[.]/g, '\\.')));
});

rights('without it, an email registered from outside gets 403 on every admin route', async () => {
  server = await startServer({ env });
  // Every admin route the api documents, so that a route added later is held to the same rule.
  const doc = (await call(server.url, 'GET', '/openapi.json')).body as { paths: Record<string, unknown> };
  const templates = Object.keys(doc.paths).filter((path) => path.startsWith('/v1/admin/'));
  assert.equal(templates.sort(), [
    '/v1/admin/dead-letters',
    '/v1/admin/executions',
    '/v1/admin/metrics/history',
    '/v1/admin/projections',
    '/v1/admin/projections/active-executions',
    '/v1/admin/streams/{name}',
    '/v1/admin/users/{email}',
    '/v1/admin/workers',
  ]);
  adminPaths = (account) =>
    templates.map((path) => path.replace('{name}', `user-${account.id}`).replace('{email}', encodeURIComponent(account.email)));

  squatter = await signUp(listedEmail);
  await assertDenied(squatter);
  assert.is((await call(server.url, 'GET', '/v1/admin/projections')).status, 401);
});

rights('faasbox operators grant refuses an email no live account holds', () => {
  const nobody = uniqueEmail('nobody');
  const refused = faasbox('operators', 'grant', '--email', nobody);
  assert.is(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, new RegExp(`no live account has the email ${nobody.replace(/[.]/g, '\\.')}`));
  assert.is(faasbox('operators', 'grant').status, 2, '--email is required');
});

rights('granted while the server runs, the token it already had opens every admin route; granting again changes nothing', async () => {
  const operator = await signUp(uniqueEmail('operator'));
  await assertDenied(operator);

  const granted = faasbox('operators', 'grant', '--email', operator.email.toUpperCase());
  assert.is(granted.status, 0, granted.stderr);
  assert.match(granted.stdout, new RegExp(`granted operator rights to .* \\(user ${operator.id}\\)`));
  await assertAllowed(operator);
  await assertDenied(squatter);

  const again = faasbox('operators', 'grant', '--email', operator.email);
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /is already an operator/);

  // The read models follow: the account view and the listing show the grant once projected.
  await eventually('the account view shows the grant', 10_000, async () =>
    (await accountView(operator, operator.token))[0]?.operator === true ? true : undefined,
  );
  assert.equal((await accountView(squatter, operator.token)).map((a) => a.operator), [false]);
  const listed = await eventually('operators ls lists the grant', 10_000, async () => {
    const ls = listedOperators();
    return ls.eventsBehind === 0 ? ls : undefined;
  });
  assert.equal(listed.operators.map((o) => [o.userId, o.email]), [[operator.id, operator.email]]);
});

rights('revoked, the very next request is refused; revoking again changes nothing', async () => {
  const operator = await signUp(uniqueEmail('revoked'));
  assert.is(faasbox('operators', 'grant', '--email', operator.email).status, 0);
  await assertAllowed(operator);

  const revoked = faasbox('operators', 'revoke', '--email', operator.email);
  assert.is(revoked.status, 0, revoked.stderr);
  assert.match(revoked.stdout, /revoked operator rights of/);
  await assertDenied(operator);

  const again = faasbox('operators', 'revoke', '--email', operator.email);
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /was not an operator/);

  const audit = faasbox('audit', `user-${operator.id}`, '--json');
  assert.is(audit.status, 0, audit.stderr);
  const events = audit.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; data: Record<string, string> });
  assert.equal(events.map((e) => e.type), ['UserRegistered', 'TokenIssued', 'OperatorGranted', 'OperatorRevoked']);
  const [, , grant, revoke] = events;
  assert.is(grant!.data.userId, operator.id);
  assert.match(grant!.data.grantedBy!, /.@./, 'who ran the command, on which host');
  assert.match(revoke!.data.revokedBy!, /.@./);
  assert.ok(Date.parse(grant!.data.grantedAt!) <= Date.parse(revoke!.data.revokedAt!));
});

rights("a deleted operator's email, registered again, brings no rights to the new account", async () => {
  const email = uniqueEmail('departed');
  const departed = await signUp(email);
  assert.is(faasbox('operators', 'grant', '--email', email).status, 0);
  await assertAllowed(departed);
  assert.is((await call(server.url, 'DELETE', '/v1/users/me', { token: departed.token })).status, 200);

  const successor = await signUp(email);
  assert.is.not(successor.id, departed.id);
  await assertDenied(successor);
  const revoke = faasbox('operators', 'revoke', '--email', email);
  assert.is(revoke.status, 0, revoke.stderr);
  assert.match(revoke.stdout, new RegExp(`\\(user ${successor.id}\\) was not an operator`));
  assert.not.ok(listedOperators().operators.some((o) => o.email === email));
});

rights.after(async () => {
  await server?.stop();
});

rights.run();
