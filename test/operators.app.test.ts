/**
 * Operator rights in process: granted and revoked against the store, as `faasbox operators`
 * does from the host (src/commands/operator-rights.ts), and honoured by the admin routes from
 * the very next request.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type OperatorChange, grantOperator, revokeOperator } from '../src/commands/operator-rights.ts';
import { DomainError } from '../src/domain/errors.ts';
import { userStream } from '../src/domain/streams.ts';
import { signUp } from './support/api.ts';
import { assertProblem, uniqueEmail } from './support/http-client.ts';
import { type InProcessApp, withApp } from './support/in-process-app.ts';

const operators = suite('operators [app in process]');

const asRoot = (app: InProcessApp) => ({ by: 'root@host', now: app.clock.now(), context: { correlationId: 'operators-app-test', newId: () => crypto.randomUUID() } });

const refusal = async (attempt: Promise<OperatorChange>) => {
  try {
    await attempt;
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  return undefined;
};

operators('granted from the store, the admin routes open at the next request; revoked, they close at the next', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request, { tag: 'ops' });
    const admin = () => app.request('GET', '/v1/admin/projections', { token: user.token });
    assertProblem(await admin(), 403);

    assert.equal(await grantOperator(app.store, user.email, asRoot(app)), { userId: user.id, changed: true });
    assert.is((await admin()).status, 200);
    assert.equal(await grantOperator(app.store, user.email.toUpperCase(), asRoot(app)), { userId: user.id, changed: false }, 'granted once');

    assert.equal(await revokeOperator(app.store, user.email, asRoot(app)), { userId: user.id, changed: true });
    assertProblem(await admin(), 403);
    assert.equal(await revokeOperator(app.store, user.email, asRoot(app)), { userId: user.id, changed: false });
    assert.equal(
      (await app.events(userStream(user.id))).map((event) => event.type),
      ['UserRegistered', 'TokenIssued', 'OperatorGranted', 'OperatorRevoked'],
    );
  });
});

operators('a grant for an email no account holds is refused, and so is one for an account deleted while it was granted', async () => {
  await withApp({ worker: false }, async (app) => {
    assert.is(await refusal(grantOperator(app.store, uniqueEmail('nobody'), asRoot(app))), 'UserNotFound');

    const user = await signUp(app.request, { tag: 'leaving' });
    // The grant has found the account by its email; the account is deleted before the grant lands.
    let deleted: number | undefined;
    app.store.beforeAppend(userStream(user.id), async () => {
      deleted = (await app.request('DELETE', '/v1/users/me', { token: user.token })).status;
    });
    assert.is(await refusal(grantOperator(app.store, user.email, asRoot(app))), 'UserNotFound');
    assert.is(deleted, 200);
    assert.equal((await app.events(userStream(user.id))).map((event) => event.type), ['UserRegistered', 'TokenIssued', 'UserDeleted']);
    const successor = await signUp(app.request, { email: user.email });
    assertProblem(await app.request('GET', '/v1/admin/projections', { token: successor.token }), 403);
  });
});

operators.run();
