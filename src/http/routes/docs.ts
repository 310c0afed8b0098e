import { type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../env.ts';
import { problemResponse } from '../problem.ts';
import { malformedRequest } from '../schemas.ts';
import { toHex } from '../../lib/hex.ts';

type DocsFile = { body: Uint8Array<ArrayBuffer>; contentType: string; hash: string };
type DocsFiles = { page: string; files: Map<string, DocsFile> };

// Swagger UI's files that the page uses, by the name they are served under. Only these names
// are answered: no request can reach another file of the package, let alone one outside it.
const SWAGGER_UI_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

// A file rather than an inline script, so the page's CSP needs no 'unsafe-inline'.
// validatorUrl: the default sends the whole document to validator.swagger.io for a badge;
// Faasbox runs offline, and the document is nobody else's business.
const INIT_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    validatorUrl: null,
    deepLinking: true,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
`;

// Scoped to /docs: the page, its script and its styles come from this server and talk only to it.
// Swagger UI draws icons from data: URIs and shows image answers through blob: URLs.
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TAGS = [
  { name: 'users', description: 'Registering, logging in (a JWT to send as `Authorization: Bearer …`) and the calling account' },
  { name: 'functions', description: "Functions: a container image and how to run it; each is visible to its owner only" },
  { name: 'executions', description: "Running a function with a body as its stdin, and reading the outcome and a function's history" },
  { name: 'secrets', description: 'Your secrets: set, listed and deleted by name, never answered; functions take them as variables at each call (`secrets` of a function)' },
  { name: 'dead letters', description: 'Asynchronous executions that ended without success after their last attempt: list, run again (redrive), remove' },
  { name: 'admin', description: 'Operators only (users granted by `faasbox operators grant`): read models, active executions and the audit of event streams' },
  { name: 'service', description: 'Liveness, readiness and this document; no authentication' },
];

// package.json's "license": "UNLICENSED": no licence is granted (the repository has no LICENSE).
// OpenAPI 3.1 wants an SPDX expression, and SPDX has no identifier for that: LicenseRef- is its
// form for a licence of one's own.
const LICENSE = { name: 'Proprietary: no licence is granted (UNLICENSED)', identifier: 'LicenseRef-UNLICENSED' };

const DESCRIPTION = `Self-hosted functions as a service: register, log in, register functions (container images) and execute them.

Every error is \`application/problem+json\` (RFC 9457, the \`Problem\` schema). Every answer carries an \`X-Request-Id\` header
(a safe one sent by the caller is kept); problems repeat it as \`correlationId\`.

The page at \`/docs\` shows this document; it is served by Faasbox itself and needs no internet.`;

/**
 * The API's documentation: the OpenAPI document at /openapi.json and Swagger UI at /docs. The
 * /docs routes are plain `app.get`: they serve a page, not the API, and stay out of the document.
 */
export type DocsSources = {
  /** Faasbox's version, shown in the document. */
  version: string;
  /** A file of an installed package: Swagger UI comes from swagger-ui-dist, so /docs works offline. */
  readPackageFile(packageName: string, file: string): Promise<Uint8Array<ArrayBuffer>>;
};

export function addDocsRoutes(app: OpenAPIHono<AppEnv>, { version, readPackageFile }: DocsSources) {
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Faasbox', version, description: DESCRIPTION, license: LICENSE },
    // Relative: a tool resolves it against the URL it fetched this document from, the address the
    // server is reached at (behind a proxy too), where the request's own URL may be an internal one.
    servers: [{ url: '/', description: 'The server that serves this document' }],
    tags: TAGS,
  });
  // doc31 serves the document without describing itself; the route is public, like the health routes.
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tags: ['service'],
    summary: 'This document (OpenAPI 3.1)',
    security: [],
    responses: {
      200: {
        description: 'The OpenAPI document',
        content: { 'application/json': { schema: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }) } },
      },
      '4XX': malformedRequest,
    },
  });

  app.get('/docs', async (c) => {
    const { page } = await docsFiles(readPackageFile);
    return c.html(page, 200, { 'cache-control': 'no-cache', 'content-security-policy': DOCS_CSP });
  });
  app.get('/docs/', (c) => c.redirect('/docs', 301));
  app.get('/docs/:file', async (c) => {
    const file = (await docsFiles(readPackageFile)).files.get(c.req.param('file'));
    if (file === undefined) return problemResponse(c, 404, 'not-found', `no file ${new URL(c.req.url).pathname}`);
    return serveFile(c, file);
  });
}

function serveFile(c: Context<AppEnv>, file: DocsFile): Response {
  const etag = `"${file.hash}"`;
  // The page names each file with its hash (?v=), so that URL never changes meaning and may be
  // kept for good; any other URL of the file is revalidated.
  const cacheControl = c.req.query('v') === file.hash ? 'public, max-age=31536000, immutable' : 'no-cache';
  const headers = { 'content-type': file.contentType, 'cache-control': cacheControl, etag };
  const ifNoneMatch = c.req.header('if-none-match') ?? '';
  if (ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) return c.body(null, 304, headers);
  return c.body(file.body, 200, headers);
}

let loading: Promise<DocsFiles> | undefined;

/** Read from the installed swagger-ui-dist at the first request, then kept (about 2 MB). */
function docsFiles(readPackageFile: DocsSources['readPackageFile']): Promise<DocsFiles> {
  loading ??= readDocsFiles(readPackageFile).catch((error: unknown) => {
    loading = undefined; // a failed read is tried again by the next request
    throw error;
  });
  return loading;
}

async function readDocsFiles(readPackageFile: DocsSources['readPackageFile']): Promise<DocsFiles> {
  const files = new Map<string, DocsFile>();
  for (const [name, contentType] of Object.entries(SWAGGER_UI_FILES)) {
    files.set(name, await docsFile(await readPackageFile('swagger-ui-dist', name), contentType));
  }
  files.set('init.js', await docsFile(new TextEncoder().encode(INIT_SCRIPT), 'text/javascript; charset=utf-8'));

  const href = (name: string) => `/docs/${name}?v=${files.get(name)?.hash ?? ''}`;
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Faasbox API</title>
<link rel="stylesheet" href="${href('swagger-ui.css')}">
<link rel="icon" type="image/png" sizes="32x32" href="${href('favicon-32x32.png')}">
<link rel="icon" type="image/png" sizes="16x16" href="${href('favicon-16x16.png')}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${href('swagger-ui-bundle.js')}"></script>
<script src="${href('init.js')}"></script>
</body>
</html>
`;
  return { page, files };
}

async function docsFile(body: Uint8Array<ArrayBuffer>, contentType: string): Promise<DocsFile> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
  const hash = toHex(digest.subarray(0, 8));
  return { body, contentType, hash };
}
