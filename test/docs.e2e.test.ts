import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type ServerProcess, startServer } from './support/server-process.ts';
import { assertProblem, call } from './support/http-client.ts';

// Debian's chromium (deploy/local/services.sh installs it), not a browser Playwright downloads:
// our machines reach no host but the Debian and npm mirrors.
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const SCREENSHOT = fileURLToPath(new URL('./artifacts/docs.png', import.meta.url));

let server: ServerProcess;

const docs = suite('docs: /docs serves Swagger UI from the installed package');

// The first test starts the server, so a failed start fails a test instead of vanishing in a hook.
docs('the platform starts', async () => {
  server = await startServer({ env: { FAASBOX_JWT_SECRET: 'docs-e2e-secret-that-is-at-least-32-bytes!' } });
});

docs('the page names its files with their hashes, under a CSP that allows only this server', async () => {
  const page = await call(server.url, 'GET', '/docs');
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.is(page.headers.get('cache-control'), 'no-cache');
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.not.match(csp, /unsafe-inline|unsafe-eval|https?:/);
  const html = page.body as string;
  assert.not.match(html, /<script>|<style|https?:\/\//, 'inline code or an outside URL in the page');
  const files = [...html.matchAll(/(?:href|src)="(\/docs\/[^"]+)"/g)].map((match) => match[1] ?? '');
  assert.equal(files.map((file) => file.replace(/\?.*/, '')).sort(), [
    '/docs/favicon-16x16.png',
    '/docs/favicon-32x32.png',
    '/docs/init.js',
    '/docs/swagger-ui-bundle.js',
    '/docs/swagger-ui.css',
  ]);

  const types: Record<string, RegExp> = { js: /^text\/javascript/, css: /^text\/css/, png: /^image\/png$/ };
  for (const file of files) {
    const reply = await fetch(`${server.url}${file}`);
    assert.is(reply.status, 200, file);
    assert.match(reply.headers.get('content-type') ?? '', types[/\.(\w+)\?/.exec(file)?.[1] ?? ''] ?? /^$/, file);
    assert.is(reply.headers.get('cache-control'), 'public, max-age=31536000, immutable', file);
    const etag = reply.headers.get('etag') ?? '';
    assert.is(etag, `"${file.replace(/.*\?v=/, '')}"`);
    assert.ok((await reply.arrayBuffer()).byteLength > 0);
    const again = await fetch(`${server.url}${file}`, { headers: { 'if-none-match': etag } });
    assert.is(again.status, 304, file);
  }
  // Without the hash the same file may change under its name: revalidated every time.
  const unversioned = await fetch(`${server.url}/docs/swagger-ui-bundle.js`);
  assert.is(unversioned.headers.get('cache-control'), 'no-cache');
  await unversioned.arrayBuffer();
  const init = await call(server.url, 'GET', '/docs/init.js');
  assert.match(init.body, /validatorUrl: null/);
  assert.match(init.body, /url: '\/openapi\.json'/);
});

docs('only the listed files are served: others, and any path out of the package, are 404 problems', async () => {
  for (const path of [
    '/docs/index.html',
    '/docs/swagger-initializer.js',
    '/docs/package.json',
    '/docs/swagger-ui-bundle.js.map',
    '/docs/..%2Fpackage.json',
    '/docs/%2e%2e%2f%2e%2e%2fpackage.json',
    '/docs/..%5Cpackage.json',
    '/docs/../package.json',
    '/docs/x/../../package.json',
    '/docs/a/b',
  ]) {
    assertProblem(await call(server.url, 'GET', path), 404);
  }
  const slash = await fetch(`${server.url}/docs/`, { redirect: 'manual' });
  assert.is(slash.status, 301);
  assert.is(slash.headers.get('location'), '/docs');
});

docs('/openapi.json documents no /docs route', async () => {
  const doc = (await call(server.url, 'GET', '/openapi.json')).body;
  assert.equal(Object.keys(doc.paths).filter((path) => path.startsWith('/docs')), []);
});

docs('headless Chromium shows every operation of /openapi.json, and fetches nothing from elsewhere', async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: this test needs Debian's chromium (bash deploy/local/services.sh, or apt-get install -y --no-install-recommends chromium)`,
  );
  const doc = (await call(server.url, 'GET', '/openapi.json')).body as { paths: Record<string, Record<string, { responses: object }>> };
  const documented = Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
    page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));

    const response = await page.goto(`${server.url}/docs`);
    assert.is(response?.status(), 200);
    await page.locator('.opblock').nth(documented.length - 1).waitFor({ timeout: 30_000 });
    await page.waitForLoadState('networkidle');

    const listed = await page.$$eval('.opblock', (blocks) =>
      blocks.map((block) => {
        const method = block.querySelector('.opblock-summary-method')?.textContent ?? '';
        // Swagger UI puts zero-width spaces after each slash so long paths can wrap.
        const path = (block.querySelector('.opblock-summary-path')?.textContent ?? '').replace(/\u200b/g, '');
        return `${method.trim().toUpperCase()} ${path.trim()}`;
      }),
    );
    assert.equal([...listed].sort(), documented);
    assert.match((await page.textContent('.info .title')) ?? '', /Faasbox/);
    assert.is(await page.locator('.btn.authorize').count(), 1, 'no Authorize button: the bearer scheme is not shown');
    assert.is(await page.locator('.errors-wrapper').count(), 0, 'Swagger UI reports errors in the document');

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Opened, an operation draws its documented answers (with highlighted examples) under the same CSP.
    // Swagger UI names an operation's block by its tag and operationId.
    const execute = page.locator('#operations-executions-executeFunction');
    await execute.locator('.opblock-summary-control').click();
    await execute.locator('tr.response[data-code="504"]').waitFor({ timeout: 10_000 });
    const codes = await execute.locator('tr.response').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-code')));
    assert.equal(codes.sort(), Object.keys(doc.paths['/v1/functions/{id}/executions']?.post?.responses ?? {}).sort());
    await page.waitForLoadState('networkidle');

    assert.ok(requests.length >= 6, requests.join('\n'));
    const elsewhere = requests.filter((url) => !url.startsWith(`${server.url}/`));
    assert.equal(elsewhere, [], `requests to other hosts:\n${elsewhere.join('\n')}`);
    assert.ok(requests.includes(`${server.url}/openapi.json`), requests.join('\n'));
    assert.equal(errors, [], errors.join('\n'));
  } finally {
    await browser.close();
  }
  assert.ok(existsSync(SCREENSHOT));
});

docs('the server shuts down cleanly', async () => {
  assert.is(await server.stop(), 0);
});

docs.run();
