/**
 * The web console in process (src/http/console/): sign-in with a session cookie, the pages over
 * the same commands as the API, ownership, CSRF and the Content-Security-Policy. A real browser
 * drives it over the real engine in test/console.e2e.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { auditUser } from '../projections/audit.ts';
import { grantOperator } from '../src/commands/operator-rights.ts';
import { consoleSessionStream } from '../src/domain/streams.ts';
import { DEFAULT_PASSWORD, createFunction, signUp } from './support/api.ts';
import { IMAGE, type InProcessApp, withApp } from './support/in-process-app.ts';

const ORIGIN = 'http://faasbox.test';

/** A browser's part: one cookie jar, forms posted from our own origin, redirects not followed. */
function browser(app: InProcessApp) {
  let cookie = '';
  const go = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('host', 'faasbox.test');
    if (cookie) headers.set('cookie', cookie);
    const answer = await app.fetch(path, { ...init, headers, redirect: 'manual' });
    const set = answer.headers.get('set-cookie');
    if (set) cookie = /max-age=0|expires=thu, 01 jan 1970/i.test(set) ? '' : set.split(';')[0]!;
    return answer;
  };
  const post = (path: string, form: Record<string, string>, origin = ORIGIN) =>
    go(path, { method: 'POST', body: new URLSearchParams(form), headers: { origin, 'content-type': 'application/x-www-form-urlencoded' } });
  return {
    go,
    post,
    page: async (path: string) => {
      const answer = await go(path);
      return { status: answer.status, html: await answer.text(), headers: answer.headers };
    },
    signIn: (email: string, password = DEFAULT_PASSWORD) => post('/console/sign-in', { email, password }),
    get cookie() {
      return cookie;
    },
  };
}

const console_ = suite('web console [app in process]');

console_('every page but sign-in sends the browser to sign in; pages carry a strict CSP and no inline script', async () => {
  await withApp({ worker: false }, async (app) => {
    const visitor = browser(app);
    for (const path of ['/console', '/console/functions', '/console/executions', '/console/admin']) {
      const answer = await visitor.go(path);
      assert.is(answer.status, 303, path);
      assert.is(answer.headers.get('location'), '/console/sign-in', path);
    }
    const signIn = await visitor.page('/console/sign-in');
    assert.is(signIn.status, 200);
    const csp = signIn.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.not.match(csp, /unsafe-inline|unsafe-eval/);
    assert.is(signIn.headers.get('cache-control'), 'no-store');
    assert.ok(signIn.html.startsWith('<!doctype html>'));
    // Every script is a file of our own origin; no style attribute or element.
    for (const tag of signIn.html.match(/<script[^>]*>/g) ?? []) assert.match(tag, /src="\/console\/assets\//);
    assert.not.match(signIn.html, /<style|style="/);
    for (const asset of ['htmx.min.js', 'uPlot.iife.min.js', 'uPlot.min.css', 'console.js', 'console.css']) {
      const answer = await visitor.go(`/console/assets/${asset}`);
      assert.is(answer.status, 200, asset);
      assert.ok((await answer.arrayBuffer()).byteLength > 100, asset);
    }
  });
});

console_('sign-in: a wrong password is refused on the page; the right one sets an HttpOnly, SameSite=Strict cookie for /console only', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const visitor = browser(app);
    const wrong = await visitor.signIn(user.email, 'not the password');
    assert.is(wrong.status, 401);
    assert.match(await wrong.text(), /the email or password is wrong/);
    assert.is(visitor.cookie, '');

    const right = await visitor.signIn(user.email);
    assert.is(right.status, 303);
    assert.is(right.headers.get('location'), '/console/functions');
    const set = right.headers.get('set-cookie') ?? '';
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\/console/);
    assert.not.match(set, /Secure/, 'plain HTTP: a Secure cookie would never come back');
    // The session is not the API's token: the cookie is no bearer token, and the API ignores it.
    assert.is((await visitor.go('/v1/functions')).status, 401);
    const functions = await visitor.page('/console/functions');
    assert.is(functions.status, 200);
    assert.match(functions.html, new RegExp(user.email.replace(/[.+]/g, '\\$&')));
  });
});

console_("sign-up makes the account the API knows and signs it in; the API's rules and refusals show on the page", async () => {
  await withApp({ worker: false }, async (app) => {
    const visitor = browser(app);
    const email = `console-${crypto.randomUUID()}@example.com`;
    const differ = await visitor.post('/console/sign-up', { email, password: DEFAULT_PASSWORD, confirm: 'another one entirely' });
    assert.is(differ.status, 400);
    assert.match(await differ.text(), /The two passwords differ/);
    const short = await visitor.post('/console/sign-up', { email, password: 'short', confirm: 'short' });
    assert.is(short.status, 400);
    assert.match(await short.text(), /<strong>password<\/strong>: must be at least/);
    const made = await visitor.post('/console/sign-up', { email, password: DEFAULT_PASSWORD, confirm: DEFAULT_PASSWORD });
    assert.is(made.status, 303);
    assert.match(visitor.cookie, /^faasbox_console=/);
    assert.is((await visitor.page('/console/functions')).status, 200);
    assert.is((await app.request('POST', '/v1/tokens', { json: { email, password: DEFAULT_PASSWORD } })).status, 200);
    const taken = await browser(app).post('/console/sign-up', { email, password: DEFAULT_PASSWORD, confirm: DEFAULT_PASSWORD });
    assert.is(taken.status, 409);
  });
});

console_('a function made, shown, invoked and its execution followed to its end, all through forms', async () => {
  await withApp({}, async (app) => {
    const user = await signUp(app.request);
    const visitor = browser(app);
    await visitor.signIn(user.email);

    const refused = await visitor.post('/console/functions', { name: '-bad', image: 'not an image!', env: 'NO_EQUALS' });
    assert.is(refused.status, 400);
    const refusal = await refused.text();
    assert.match(refusal, /<strong>name<\/strong>/);
    assert.match(refusal, /<strong>image<\/strong>/);
    assert.match(refusal, /value="-bad"/, 'the form keeps what was typed');

    const created = await visitor.post('/console/functions', { name: 'shout', image: IMAGE, env: 'GREETING=<img src=x onerror=alert(1)>\nLANG=C', command: 'cat' });
    assert.is(created.status, 303);
    const path = created.headers.get('location')!;
    assert.match(path, /^\/console\/functions\/[0-9a-f-]{36}$/);
    const shown = await visitor.page(path);
    assert.match(shown.html, /Function shout/);
    assert.match(shown.html, /GREETING=&lt;img src=x onerror=alert\(1\)&gt;/, 'values are escaped');
    assert.not.match(shown.html, /<img src=x/);

    const invoked = await visitor.go(`${path}/invoke`, {
      method: 'POST',
      headers: { origin: ORIGIN },
      body: (() => {
        const form = new FormData();
        form.set('stdin', 'typed input');
        form.set('file', new File(['uploaded input'], 'input.txt'));
        return form;
      })(),
    });
    assert.is(invoked.status, 303);
    const executionPath = invoked.headers.get('location')!;
    assert.match(executionPath, /^\/console\/executions\/[0-9a-f-]{36}$/);
    const executionId = executionPath.split('/').at(-1)!;
    await app.runtime.reached('ended', executionId);

    let live = '';
    for (let tries = 0; tries < 50 && !/succeeded/.test(live); tries++) live = (await visitor.page(`${executionPath}/live`)).html;
    assert.match(live, /status-succeeded/);
    assert.match(live, /uploaded input/, 'a file given wins over the text');
    assert.not.match(live, /hx-trigger/, 'a final state stops asking');
    const record = await visitor.page(executionPath);
    assert.match(record.html, /ExecutionQueued/);
    assert.match(record.html, /ExecutionSucceeded/);
    assert.match(record.html, /\*\*\*/, 'kept stdin is masked in the events, as the audit shows it');

    const history = await visitor.page('/console/executions?status=succeeded');
    assert.match(history.html, new RegExp(executionId.slice(0, 8)));
    const none = await visitor.page('/console/executions?status=failed');
    assert.not.match(none.html, new RegExp(executionId.slice(0, 8)));
  });
});

console_("a user never sees another's functions or executions, by any URL", async () => {
  await withApp({}, async (app) => {
    const ada = await signUp(app.request, { tag: 'ada' });
    const eve = await signUp(app.request, { tag: 'eve' });
    const fn = await createFunction(app.request, ada.token, { name: 'private-fn', image: IMAGE });
    const run = await app.request('POST', `/v1/functions/${fn.id}/executions`, { token: ada.token, body: 'x' });
    const visitor = browser(app);
    await visitor.signIn(eve.email);
    assert.not.match((await visitor.page('/console/functions')).html, /private-fn/);
    assert.not.match((await visitor.page('/console/executions')).html, new RegExp(run.body.executionId.slice(0, 8)));
    for (const path of [`/console/functions/${fn.id}`, `/console/executions/${run.body.executionId}`, `/console/executions/${run.body.executionId}/live`]) {
      const page = await visitor.page(path);
      assert.is(page.status, 403, path);
      assert.not.match(page.html, /private-fn/);
    }
    assert.is((await visitor.post(`/console/functions/${fn.id}/delete`, {})).status, 403);
    assert.is((await visitor.page('/console/admin')).status, 403, 'the operator pages need an operator');
    assert.is((await visitor.page('/console/admin/metrics.json')).status, 403);
    assert.is((await app.request('GET', `/v1/functions/${fn.id}`, { token: ada.token })).status, 200);
  });
});

console_('a form posted from another site is refused (CSRF), and changes nothing', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const visitor = browser(app);
    await visitor.signIn(user.email);
    const forged = await visitor.post('/console/functions', { name: 'forged', image: IMAGE }, 'https://evil.example');
    assert.is(forged.status, 403);
    const crossSite = await visitor.go('/console/functions', {
      method: 'POST',
      body: new URLSearchParams({ name: 'forged', image: IMAGE }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
    });
    assert.is(crossSite.status, 403);
    assert.equal((await app.request('GET', '/v1/functions', { token: user.token })).body.functions, []);
  });
});

console_('signing out ends the session on the server: the old cookie lets nobody in', async () => {
  await withApp({ worker: false }, async (app) => {
    const user = await signUp(app.request);
    const visitor = browser(app);
    await visitor.signIn(user.email);
    const stolen = visitor.cookie;
    const out = await visitor.post('/console/sign-out', {});
    assert.is(out.status, 303);
    assert.is(visitor.cookie, '');
    const replayed = await app.fetch('/console/functions', { headers: { cookie: stolen, host: 'faasbox.test' }, redirect: 'manual' });
    assert.is(replayed.status, 303);
    const [, ended] = await app.events(await consoleSessionStream(stolen.split('=')[1]!));
    assert.is(ended?.type, 'ConsoleSessionEnded');
    // The operator's audit of the user shows the session, and nothing that would let anyone in.
    await app.deps.projections.runner.waitFor(ended!.position, 5_000);
    const history = await auditUser(app.stored, app.deps.projections, user.email);
    const sessions = history!.entries.filter((entry) => entry.type.startsWith('ConsoleSession'));
    assert.equal(sessions.map((entry) => entry.type), ['ConsoleSessionStarted', 'ConsoleSessionEnded']);
    assert.not.ok(JSON.stringify(history).includes(stolen.split('=')[1]!));
  });
});

console_("the operator's page: slots, workers and their pools, and the audit with secrets masked", async () => {
  await withApp({}, async (app) => {
    const user = await signUp(app.request);
    await grantOperator(app.store, user.email, { by: 'root@host', now: app.clock.now(), context: { correlationId: 'console-app', newId: () => crypto.randomUUID() } });
    await app.request('PUT', '/v1/secrets/db', { token: user.token, json: { value: 'console-audit-secret-value' } });
    const visitor = browser(app);
    await visitor.signIn(user.email);
    let admin = await visitor.page('/console/admin');
    // The worker's first report comes 100 ms after it starts.
    for (let tries = 0; tries < 100 && !/worker-1/.test(admin.html); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      admin = await visitor.page('/console/admin');
    }
    assert.is(admin.status, 200);
    assert.match(admin.html, /<td>worker-1<\/td>/);
    assert.match(admin.html, /In use<\/dt><dd>0 \(no platform limit\)/);
    assert.match(admin.html, /href="\/console\/admin"/, 'the header links the operator page for an operator');
    const audit = await visitor.page(`/console/admin/audit?stream=secrets-${user.id}`);
    assert.is(audit.status, 200);
    assert.match(audit.html, /SecretCreated/);
    assert.not.match(audit.html, /console-audit-secret-value|fbx1\./);
    assert.is((await visitor.page('/console/admin/audit?stream=..%2Fetc')).status, 400);
    assert.is((await visitor.page('/console/admin/audit?stream=user-nobody')).status, 404);
    const charts = await visitor.go('/console/admin/metrics.json');
    assert.is(charts.status, 200);
    assert.equal(Object.keys((await charts.json()) as object).sort(), ['intervalSeconds', 'points']);
  });
});

console_.run();
