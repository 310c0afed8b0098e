/**
 * The web console in a real browser (Debian's Chromium through playwright-core) over the real
 * server, engine and registry: sign-in, a function made and run from the pages, a running
 * execution in the operator's view, what another user cannot reach, a forged form from another
 * origin, the CSP, no console error anywhere, and axe-core's accessibility rules on every page
 * (no serious or critical violation). Screenshots of each page go to test/artifacts/console/
 * (docs/console/ keeps one of each, refreshed by hand from there).
 */
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from './support/api.ts';
import { call, uniqueEmail } from './support/http-client.ts';
import { grantOperator } from './support/operator-command.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer } from './support/server-process.ts';
import { ensureTestImages } from './support/test-images.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const SHOTS = fileURLToPath(new URL('./artifacts/console/', import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let registry: Registry;
let server: ServerProcess;
let browser: Browser;
let image: string;
let ada: { email: string; context: BrowserContext; page: Page; functionId: string };
let operator: { email: string; context: BrowserContext; page: Page };
/** Everything a page reported as an error (CSP violations are console errors), by page URL. */
const errors: string[] = [];
/** Every console page visited, with its CSP header. */
const visited = new Map<string, string | null>();

/** A browser of its own; `registered`: the account made through the API first, else the page makes it. */
async function newUser(tag: string, registered = true) {
  const email = uniqueEmail(tag);
  if (registered) await api.signUp(server.url, { email });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${page.url()}: console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
  page.on('response', (response) => {
    if (response.request().resourceType() === 'document' && response.url().startsWith(`${server.url}/console`)) {
      visited.set(new URL(response.url()).pathname, response.headers()['content-security-policy'] ?? null);
    }
  });
  return { email, context, page };
}

async function signIn(page: Page, email: string) {
  await page.goto(`${server.url}/console`);
  assert.match(page.url(), /\/console\/sign-in$/);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(api.DEFAULT_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/functions$/);
}

/** axe-core's rules on the page as it is now: no serious or critical violation. */
async function assertAccessible(page: Page, name: string) {
  // Evaluated over the DevTools protocol, which the page's CSP does not govern (a <script> would be refused).
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await (globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string; nodes: unknown[] }[] }> } }).axe.run();
    return result.violations.map(({ id, impact, help, nodes }) => ({ id, impact, help, nodes: nodes.length }));
  });
  const grave = violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  assert.equal(grave, [], `${name}: ${JSON.stringify(grave)}`);
}

async function shoot(page: Page, name: string) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

const console_ = suite('web console in Chromium [real server, engine and registry]');

console_('the platform starts, with Chromium', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: bash deploy/local/services.sh installs it`);
  registry = await startRegistry();
  image = (await ensureTestImages(registry.address)).busybox;
  server = await startServer({ env: { FAASBOX_JWT_SECRET: 'console-e2e-secret-of-at-least-32-bytes!', FAASBOX_WORKER_ID: `console-e2e-${process.pid}` } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const user = await newUser('console-ada', false);
  ada = { ...user, functionId: '' };
  operator = await newUser('console-operator');
  grantOperator(server.dataDir, operator.email);
});

console_('sign up on the page, sign out, and sign in again; the sign-up, sign-in and functions pages are accessible', async () => {
  const { page } = ada;
  await page.goto(`${server.url}/console`);
  await assertAccessible(page, 'sign-in');
  await shoot(page, 'sign-in');
  await page.getByRole('link', { name: 'Sign up' }).click();
  await page.waitForURL(/\/console\/sign-up$/);
  await assertAccessible(page, 'sign-up');
  await shoot(page, 'sign-up');
  await page.getByLabel('Email').fill(ada.email);
  await page.getByLabel(/^Password/).fill(api.DEFAULT_PASSWORD);
  await page.getByLabel('The password again').fill(api.DEFAULT_PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(/\/console\/functions$/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/console\/sign-in$/);
  await signIn(ada.page, ada.email);
  assert.match((await ada.page.textContent('header')) ?? '', new RegExp(ada.email.replace(/[.+]/g, '\\$&')));
  await assertAccessible(ada.page, 'functions (empty)');
});

console_('create a function from the form, invoke it with typed input, and read its output on the page', async () => {
  const { page } = ada;
  await page.getByLabel('Name', { exact: true }).fill('shout');
  await page.getByLabel(/^Image/).fill(image);
  await page.getByLabel(/^Command/).fill('sh\n-c\ntr a-z A-Z');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/\/console\/functions\/[0-9a-f-]{36}$/);
  ada.functionId = page.url().split('/').at(-1)!;
  assert.match((await page.textContent('h1')) ?? '', /Function shout/);
  await assertAccessible(page, 'function');
  await shoot(page, 'function');

  await page.getByLabel(/^Input/).fill('hello from the console');
  await page.getByRole('button', { name: 'Invoke' }).click();
  await page.waitForURL(/\/console\/executions\/[0-9a-f-]{36}$/);
  // The live view asks every second until the run ends: no reload.
  await page.locator('#live .status-succeeded').waitFor({ timeout: 30_000 });
  assert.match((await page.locator('#live pre').first().textContent()) ?? '', /HELLO FROM THE CONSOLE/);
  assert.match((await page.locator('#live').textContent()) ?? '', /Exit code\s*0/);
  await assertAccessible(page, 'execution');
  await shoot(page, 'execution');

  await page.goto(`${server.url}/console/functions`);
  await shoot(page, 'functions');
});

console_("a running execution appears in the operator's view, and leaves it when done; the user's page follows it live", async () => {
  const created = await call(server.url, 'POST', '/v1/functions', {
    token: await api.logIn(server.url, ada.email),
    json: { name: 'slow', image, command: ['sh', '-c', 'sleep 4; echo slept'] },
  });
  assert.is(created.status, 201, JSON.stringify(created.body));
  await ada.page.goto(`${server.url}/console/functions/${created.body.id}`);
  await ada.page.getByRole('button', { name: 'Invoke' }).click();
  await ada.page.waitForURL(/\/console\/executions\/[0-9a-f-]{36}$/);
  const live = ada.page.locator('#live');
  assert.match((await live.locator('dd').first().textContent()) ?? '', /queued|running/);

  await signIn(operator.page, operator.email);
  await operator.page.goto(`${server.url}/console/admin`);
  await operator.page.getByRole('cell', { name: ada.email }).waitFor({ timeout: 10_000 });
  // The worker's last report: its id, running, its engine answering, a disk it can see.
  const workerRow = operator.page.locator('tr', { has: operator.page.getByRole('cell', { name: `console-e2e-${process.pid}`, exact: true }) });
  assert.match((await workerRow.textContent()) ?? '', /running.*reachable.*% of \d+ MB/);
  await assertAccessible(operator.page, 'operator');
  await shoot(operator.page, 'operator');

  await live.locator('.status-succeeded').waitFor({ timeout: 30_000 });
  assert.match((await live.locator('pre').first().textContent()) ?? '', /slept/);
  for (let tries = 0; tries < 20; tries++) {
    await operator.page.reload();
    if ((await operator.page.getByRole('cell', { name: ada.email }).count()) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.is(await operator.page.getByRole('cell', { name: ada.email }).count(), 0, 'the finished execution still holds a slot in the view');
});

console_('the history filters by status and function; the audit shows a stream with secrets masked', async () => {
  const { page } = ada;
  await page.goto(`${server.url}/console/executions`);
  await page.getByLabel('Status').selectOption('succeeded');
  await page.getByLabel('Function').selectOption({ label: 'shout' });
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/status=succeeded/);
  const rows = page.locator('tbody tr');
  assert.is(await rows.count(), 1);
  assert.match((await rows.first().textContent()) ?? '', /shout/);
  await assertAccessible(page, 'executions');
  await shoot(page, 'executions');

  // The charts: the api samples its metrics every 10 s, so by now there are points to draw.
  for (let tries = 0; tries < 40; tries++) {
    await operator.page.goto(`${server.url}/console/admin`);
    await operator.page.waitForLoadState('networkidle');
    if ((await operator.page.locator('.chart canvas').count()) === 2) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.is(await operator.page.locator('.chart canvas').count(), 2, (await operator.page.locator('.chart').first().textContent()) ?? '');
  await assertAccessible(operator.page, 'operator with charts');
  await shoot(operator.page, 'operator');
  await operator.page.getByLabel(/^Stream/).fill(`function-${ada.functionId}`);
  await operator.page.getByRole('button', { name: 'Show its events' }).click();
  await operator.page.waitForURL(/\/console\/admin\/audit\?stream=/);
  assert.match((await operator.page.textContent('tbody')) ?? '', /FunctionCreated/);
  await assertAccessible(operator.page, 'audit');
  await shoot(operator.page, 'audit');
});

console_("another user reaches neither ada's function nor the operator pages, by direct URL", async () => {
  const eve = await newUser('console-eve');
  try {
    await signIn(eve.page, eve.email);
    assert.not.match((await eve.page.textContent('main')) ?? '', /shout/);
    for (const path of [`/console/functions/${ada.functionId}`, '/console/admin', '/console/admin/audit?stream=function-' + ada.functionId]) {
      const response = await eve.page.goto(`${server.url}${path}`);
      assert.is(response?.status(), 403, path);
      assert.not.match((await eve.page.textContent('main')) ?? '', /shout|FunctionCreated/);
      await assertAccessible(eve.page, `refusal of ${path}`);
    }
    assert.is(await eve.page.getByRole('link', { name: 'Operator' }).count(), 0);
  } finally {
    await eve.context.close();
  }
});

console_('a form that another origin makes the browser post is refused, and creates nothing', async () => {
  // Another origin (another port): what a hostile page a signed-in user opens can do.
  const forger: Server = createServer((_, response) => {
    response.setHeader('content-type', 'text/html');
    response.end(
      `<form method="post" action="${server.url}/console/functions"><input name="name" value="forged"><input name="image" value="${image}"></form>` +
        '<script>document.forms[0].submit()</script>',
    );
  });
  await new Promise<void>((resolve) => forger.listen(0, '127.0.0.1', resolve));
  try {
    const port = (forger.address() as { port: number }).port;
    const landed = ada.page.waitForResponse((response) => response.url() === `${server.url}/console/functions` && response.request().method() === 'POST');
    await ada.page.goto(`http://127.0.0.1:${port}/`);
    assert.is((await landed).status(), 403);
    await ada.page.goto(`${server.url}/console/functions`);
    assert.not.match((await ada.page.textContent('main')) ?? '', /forged/);
  } finally {
    forger.close();
  }
  // The forged page is no console page: its errors are not the console's.
  for (let i = errors.length - 1; i >= 0; i--) if (errors[i]!.startsWith('http://127.0.0.1:') && !errors[i]!.startsWith(server.url)) errors.splice(i, 1);
});

console_('every page visited had the CSP, and no page reported an error', async () => {
  assert.ok(visited.size >= 7, [...visited.keys()].join(', '));
  for (const [path, csp] of visited) {
    assert.ok(csp, `${path} had no Content-Security-Policy`);
    assert.not.match(csp!, /unsafe-inline|unsafe-eval/, path);
  }
  assert.equal(
    errors.filter((error) => !/403 \(Forbidden\)/.test(error)),
    [],
  );
});

console_('signing out ends the session: back is the sign-in page', async () => {
  await ada.page.goto(`${server.url}/console/functions`);
  await ada.page.getByRole('button', { name: 'Sign out' }).click();
  await ada.page.waitForURL(/\/console\/sign-in$/);
  await ada.page.goto(`${server.url}/console/functions`);
  assert.match(ada.page.url(), /\/console\/sign-in$/);
});

console_.after(async () => {
  await browser?.close();
  if (server?.child.exitCode === null) await server.stop();
  await registry?.stop();
});

console_.run();
