/**
 * The OpenAPI document as standard tools read it, built in process as `npm run openapi` builds
 * it: Redocly's recommended rules find nothing in it, the command line's HTTP types are exactly
 * what openapi-typescript generates from it, and its operations carry the ids that generated
 * clients name their methods by.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type OpenApiDocument, apiTypesOf, committedApiTypes, openApiDocument } from '../src/entry/openapi.ts';
import { tempDir } from './support/server-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

type LintReport = {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
};

/** `redocly lint` of `document` with the committed redocly.yaml, as JSON. */
async function lint(document: OpenApiDocument): Promise<LintReport> {
  const file = join(tempDir('faasbox-openapi-'), 'openapi.json');
  writeFileSync(file, JSON.stringify(document, null, 2));
  const args = ['node_modules/@redocly/cli/bin/cli.js', 'lint', '--config', 'redocly.yaml', '--format', 'json', file];
  // Off by redocly.yaml too; the update check is asked of the npm registry unless suppressed.
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ code: status, stdout: out, stderr: err }));
  });
  assert.ok(stdout.trimStart().startsWith('{'), `redocly lint exited ${code} without a report:\n${stdout}\n${stderr}`);
  return JSON.parse(stdout) as LintReport;
}

const said = (report: LintReport) =>
  report.problems.map((problem) => `${problem.severity} ${problem.ruleId} at ${problem.location[0]?.pointer}: ${problem.message}`).join('\n');

const operationsOf = (document: OpenApiDocument) =>
  Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ method, path, operation })));

let document: OpenApiDocument;

const openapi = suite('openapi: /openapi.json passes standard tooling');

// Built here, not in a hook: a failed build fails a test instead of vanishing (uvu swallows hook errors).
openapi('the document is built from the app in process, without a server', async () => {
  document = await openApiDocument();
  assert.match(document.openapi, /^3\.1\.\d+$/);
  assert.equal(document.servers, [{ url: '/', description: 'The server that serves this document' }]);
});

openapi('Redocly with the recommended rules (redocly.yaml) finds no error and no warning', async () => {
  const report = await lint(document);
  assert.equal(report.totals, { errors: 0, warnings: 0, ignored: 0 }, said(report));
});

openapi('the linter is not idle: a public operation without `security: []` and an operation without an id are reported', async () => {
  const broken = structuredClone(document);
  delete broken.paths['/v1/users']!.post!.security;
  delete broken.paths['/healthz']!.get!.operationId;
  const report = await lint(broken);
  assert.equal(
    report.problems.map((problem) => `${problem.severity} ${problem.ruleId} ${problem.location[0]?.pointer}`).sort(),
    ['error security-defined #/paths/~1v1~1users/post', 'warn operation-operationId #/paths/~1healthz/get/operationId'],
    said(report),
  );
});

openapi('src/cli/api-types.gen.ts is what openapi-typescript generates from the document now', async () => {
  // On failure: a route changed and the command line has not followed; `npm run openapi:types`.
  assert.fixture(committedApiTypes(), await apiTypesOf(document));
});

/** What clients and docs name operations by: renaming one breaks every generated client. */
const STABLE_IDS: Record<string, string> = {
  'POST /v1/users': 'createUser',
  'POST /v1/tokens': 'getToken',
  'GET /v1/users/me': 'getMyUser',
  'DELETE /v1/users/me': 'deleteUser',
  'POST /v1/functions': 'createFunction',
  'GET /v1/functions': 'listFunctions',
  'GET /v1/functions/{id}': 'getFunction',
  'DELETE /v1/functions/{id}': 'deleteFunction',
  'POST /v1/functions/{id}/executions': 'executeFunction',
  'GET /v1/functions/{id}/executions': 'listExecutions',
  'GET /v1/executions/{id}': 'getExecution',
};

openapi('every operation has an id, once; the ones clients are named by are stable', () => {
  const ids = operationsOf(document).map(({ method, path, operation }) => {
    assert.type(operation.operationId, 'string', `${method.toUpperCase()} ${path} has no operationId`);
    return operation.operationId!;
  });
  assert.equal([...new Set(ids)].sort(), [...ids].sort(), 'an operationId is used twice');
  const found = Object.keys(STABLE_IDS).map((route) => {
    const [method = '', path = ''] = route.split(' ');
    return [route, document.paths[path]?.[method.toLowerCase()]?.operationId];
  });
  assert.equal(Object.fromEntries(found), STABLE_IDS);
});

openapi("an execution's body is documented as raw bytes, not as JSON or a string", () => {
  const body = document.paths['/v1/functions/{id}/executions']?.post?.requestBody;
  assert.equal(body?.content, { 'application/octet-stream': { schema: {} } });
});

openapi.run();
