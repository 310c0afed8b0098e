/**
 * Hostile input: every operation /openapi.json lists (so a new route is fuzzed without a line
 * here) gets property-based garbage from fast-check: malformed and oversized bodies, wrong
 * types, prototype keys at every depth, odd Unicode, traversal in path ids, odd media types,
 * bogus request ids and Authorization headers. The properties: no 5xx; every error is
 * problem+json whose status matches; no stack trace or secret in any answer; no route gives
 * one user another's data; and afterwards the data made before are intact and the server
 * behaves as if no prototype had been touched.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, uniqueEmail } from '../support/http-client.ts';
import { grantOperator } from '../support/operator-command.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { pinnedReference } from '../../src/domain/image-reference.ts';
import { type Registry, startRegistry } from '../support/registry.ts';
import { deleteManifest, pushTag } from '../support/registry-images.ts';
import { ensureTestImages } from '../support/test-images.ts';
import {
  type JsonTree,
  contentTypes,
  hostileEmail,
  hostileSegment,
  hostileString,
  jsonTree,
  malformedJson,
  percentEncode,
  requestIdHeader,
  sloppyEncode,
  toHeaderValue,
  withPollution,
  writeJson,
} from './support/arbitraries.ts';
import { reportFigure } from './support/report.ts';

/** Fixed, so a failure replays; RELIABILITY_FUZZ_SEED / RELIABILITY_FUZZ_RUNS explore further by hand. */
const SEED = Number(process.env.RELIABILITY_FUZZ_SEED ?? 20261128);
const RUNS_PER_OPERATION = Number(process.env.RELIABILITY_FUZZ_RUNS ?? 150);
/** Small, so bodies over it are cheap to send (the smallest FAASBOX_BODY_LIMIT_BYTES allows is 1024). */
const BODY_LIMIT = 2048;
const JWT_SECRET = randomBytes(24).toString('hex');
/** The keeper's secret: no answer to anyone may hold it. */
const KEEPER_SECRET = `kept-secret-${randomBytes(12).toString('hex')}`;
const PASSWORD = 'correct horse battery';
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MEMORY_MB = 128;
/** No registry can be asked there (fetch refuses the port): creating a function on it is 503, nothing recorded. */
const UNREACHABLE_IMAGE = '127.0.0.1:9/faasbox/absent:1';
/** Huge, yet with the rest of a request under the 16 KiB of headers past which Node answers 431 itself. */
const HUGE_AUTHORIZATION_BYTES = 6_000;

type Account = { id: string; email: string; token: string };
type SchemaObject = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaObject>;
  items?: SchemaObject;
  additionalProperties?: SchemaObject | boolean;
  enum?: unknown[];
  example?: unknown;
  required?: string[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  anyOf?: SchemaObject[];
};
type OpenApiOperation = {
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; in: string; schema?: SchemaObject }[];
  requestBody?: { content: Record<string, { schema?: SchemaObject }> };
};
type OpenApiDocument = { paths: Record<string, Record<string, OpenApiOperation>>; components: { schemas: Record<string, SchemaObject> } };

/** One operation of the document, as the fuzzer needs it. */
type Operation = {
  key: string;
  method: string;
  template: string;
  secured: boolean;
  admin: boolean;
  /** DELETE of the caller itself: a valid token here is a sacrificial account's, not the fuzzer's. */
  deletesCaller: boolean;
  pathParams: string[];
  query: { name: string; schema: SchemaObject }[];
  body: { mediaTypes: string[]; schema: SchemaObject | undefined } | undefined;
};

type WireRequest = {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer | undefined;
  labels: { auth: string; body: string };
};
type WireReply = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

type World = {
  server: ServerProcess;
  registry: Registry;
  /**
   * `gone`: a tag whose manifest was deleted once the functions were pinned to it, so every
   * execution fails at the pull and no container is ever started; `pinned`: the same image by its
   * digest, which creates a function (no registry is asked) that fails alike when run.
   */
  images: { gone: string; pinned: string };
  doc: OpenApiDocument;
  operations: Operation[];
  keeper: Account & { functionIds: string[]; executionId: string; snapshot: Record<string, unknown> };
  /** `deadLetterIds`: asynchronous executions of the fuzzer's that failed, on its dead-letter list to be redriven or removed. */
  fuzzer: Account & { functionIds: string[]; executionId: string; deadLetterIds: string[] };
  operator: Account;
  sacrificial: Account;
};

let world: World | undefined;
const ready = () => {
  if (world === undefined) throw new Error('the server did not start: see the first test');
  return world;
};

const VERBS = ['get', 'put', 'post', 'delete', 'patch'];

function operationsOf(doc: OpenApiDocument): Operation[] {
  return Object.entries(doc.paths).flatMap(([template, item]) =>
    Object.entries(item)
      .filter(([method]) => VERBS.includes(method))
      .map(([method, operation]) => {
        const parameters = operation.parameters ?? [];
        const content = operation.requestBody?.content;
        const mediaTypes = Object.keys(content ?? {});
        const secured = (operation.security ?? []).length > 0;
        return {
          key: `${method.toUpperCase()} ${template}`,
          method: method.toUpperCase(),
          template,
          secured,
          admin: (operation.tags ?? []).includes('admin'),
          deletesCaller: secured && method === 'delete' && !template.includes('{'),
          pathParams: [...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1] ?? ''),
          query: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
          body: content ? { mediaTypes, schema: content['application/json']?.schema } : undefined,
        };
      }),
  );
}

function resolve(doc: OpenApiDocument, schema: SchemaObject | undefined): SchemaObject {
  if (schema?.$ref) return doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] ?? {};
  return schema ?? {};
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP: fetch normalises `..` and `%2e%2e` away and refuses duplicate headers; Node's
// http.request sends the path and the header lines as given.

function send(baseUrl: string, request: Omit<WireRequest, 'labels'>): Promise<WireReply> {
  const base = new URL(baseUrl);
  const headers: string[] = ['host', base.host, 'connection', 'close'];
  for (const [name, value] of request.headers) headers.push(name, value);
  if (request.body !== undefined) headers.push('content-length', String(request.body.length));
  return new Promise((resolvePromise, reject) => {
    const outgoing = httpRequest(
      { host: base.hostname, port: base.port, method: request.method, path: request.path, headers, agent: false, timeout: 30_000 },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('end', () => resolvePromise({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks).toString('utf8') }));
        incoming.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within 30 s to ${request.method} ${request.path.slice(0, 200)}`)));
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

// ---------------------------------------------------------------------------------------------
// What one request may carry.

const pick = <T>(values: T[]): fc.Arbitrary<T> => fc.constantFrom(...values);

/**
 * Values for a path parameter: ids that exist (the fuzzer's, the keeper's, streams an operator
 * may read) beside hostile ones. A deleting operation never gets the fuzzer's target function,
 * which the other operations keep executing.
 */
function pathParamPool(w: World, operation: Operation, name: string): string[] {
  const [target, ...others] = w.fuzzer.functionIds;
  // The target twice: the decoys go one by one, and a route must still meet an id that works.
  const own = operation.method === 'DELETE' ? others : [target ?? '', target ?? '', ...others];
  // The dead letters where they can be named; elsewhere they would only thin out the ids that work.
  const deadLetters = operation.template.includes('/dead-letters/') ? w.fuzzer.deadLetterIds : [];
  const ids = [...own, ...w.keeper.functionIds, w.fuzzer.executionId, w.keeper.executionId, ...deadLetters];
  if (name === 'email') return [w.keeper.email, w.fuzzer.email, w.operator.email].map(percentEncode);
  // A secret's name is the caller's own namespace: the keeper's secret's name names the fuzzer's own secret.
  if (name === 'name' && operation.template.startsWith('/v1/secrets/')) return ['db-password', 'db-password', 'fuzzer-own'];
  if (name === 'name') {
    // Stream names for the audit.
    return [`user-${w.keeper.id}`, `function-${w.keeper.functionIds[0]}`, `execution-${w.keeper.executionId}`, `slots-${w.keeper.id}`, `user-${w.operator.id}`, `secrets-${w.keeper.id}`];
  }
  return ids;
}

/** Plausible values for a field, by its name and schema, so requests also get past validation and reach the handlers. */
function plausibleValue(doc: OpenApiDocument, name: string, schemaIn: SchemaObject | undefined, w: World): fc.Arbitrary<JsonTree> {
  const schema = resolve(doc, schemaIn);
  if (name === 'email') return fc.oneof(fc.emailAddress(), hostileEmail([w.keeper.email, w.operator.email]));
  if (name === 'password') return fc.oneof(fc.constant(PASSWORD), hostileString(80));
  if (name === 'name') return fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/), hostileString());
  if (name === 'image') {
    return fc.oneof(
      pick([UNREACHABLE_IMAGE, w.images.gone, w.images.pinned, '127.0.0.1:9/a/b@sha256:' + '0'.repeat(64), 'docker.io/library/busybox:1', 'UPPER/Case', '../../etc/passwd']),
      hostileString(),
    );
  }
  const types = [schema.type ?? []].flat();
  if (schema.enum) return fc.oneof(pick(schema.enum as JsonTree[]), hostileString());
  if (types.includes('integer') || types.includes('number')) {
    return fc.oneof(fc.integer({ min: -10, max: 400_000 }), pick([0, -1, 1.5, 2 ** 53 + 1, 1e300, -0]), fc.string());
  }
  if (types.includes('array')) return fc.array(plausibleValue(doc, `${name}[]`, schema.items, w), { maxLength: 5 });
  if (types.includes('object') && schema.properties === undefined) {
    return fc
      .array(fc.tuple(fc.oneof(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), hostileString(20), pick(['__proto__', 'constructor', 'prototype'])), hostileString(40)), { maxLength: 5 })
      .map((entries) => ({ entries }));
  }
  if (types.includes('object')) return objectFor(doc, schema, w, (field, fieldSchema) => plausibleValue(doc, field, fieldSchema, w));
  return hostileString();
}

/**
 * Values the schema accepts, so that the handlers behind validation run too: from the field's
 * name where the schema cannot say enough (an email, a registry the engine will not reach), else
 * from the schema's own bounds.
 */
function validValue(doc: OpenApiDocument, name: string, schemaIn: SchemaObject | undefined, w: World): fc.Arbitrary<JsonTree> {
  const schema = resolve(doc, schemaIn);
  if (name === 'email') {
    return fc.oneof(fc.stringMatching(/^[a-z][a-z0-9]{0,15}@[a-z]{1,10}\.(com|org|io)$/), pick([w.fuzzer.email, w.fuzzer.email.toUpperCase()]));
  }
  if (name === 'password') return pick([PASSWORD, 'another good password']);
  if (name === 'name') return fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
  // Accepted (a digest needs no registry), not in its registry (400), no registry to ask (503).
  if (name === 'image') return fc.constantFrom(w.images.pinned, w.images.pinned, w.images.gone, UNREACHABLE_IMAGE);
  // Every function has version 1, and few have more: a rollback mostly to one that exists.
  if (name === 'version') return fc.constantFrom(1, 1, 2);
  // Variables that take the fuzzer's own secret (or none): another name is refused as unknown.
  if (name === 'secrets') return fc.constantFrom({ entries: [] as [string, string][] }, { entries: [['DB_PASSWORD', 'fuzzer-own']] as [string, string][] });
  if (schema.enum) return pick(schema.enum as JsonTree[]);
  const types = [schema.type ?? []].flat();
  if (types.includes('boolean')) return fc.boolean();
  if (types.includes('integer') || types.includes('number')) {
    const min = schema.minimum ?? 0;
    return fc.integer({ min, max: Math.min(schema.maximum ?? min + 1000, min + 100_000) });
  }
  if (types.includes('array')) {
    const minLength = schema.minItems ?? 0;
    return fc.array(validValue(doc, `${name}[]`, schema.items, w), { minLength, maxLength: Math.max(minLength, Math.min(schema.maxItems ?? 4, 4)) });
  }
  if (types.includes('object') && schema.properties === undefined) {
    return fc.array(fc.tuple(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/), fc.string({ maxLength: 20 })), { maxLength: 4 }).map((entries) => ({ entries }));
  }
  if (types.includes('object')) {
    const required = new Set(schema.required ?? []);
    const fields = Object.entries(schema.properties ?? {}).map(([field, fieldSchema]) =>
      (required.has(field) ? validValue(doc, field, fieldSchema, w) : fc.option(validValue(doc, field, fieldSchema, w), { freq: 2 })).map((value) => [field, value] as const),
    );
    return fc.tuple(...fields).map((values) => ({ entries: values.filter(([, value]) => value !== null) as [string, JsonTree][] }));
  }
  return fc.string({ maxLength: 20 });
}

function objectFor(doc: OpenApiDocument, schema: SchemaObject, w: World, valueOf: (field: string, schema: SchemaObject) => fc.Arbitrary<JsonTree>) {
  const fields = Object.entries(schema.properties ?? {});
  if (fields.length === 0) return jsonTree(2);
  return fc
    .tuple(
      fc.tuple(...fields.map(([field, fieldSchema]) => fc.option(valueOf(field, fieldSchema), { freq: 6 }).map((value) => [field, value] as const))),
      fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(hostileString(16), jsonTree(1)) }),
    )
    .map(([values, extra]) => {
      const entries: [string, JsonTree][] = values.filter(([, value]) => value !== null).map(([field, value]) => [field, value as JsonTree]);
      if (extra) entries.push(extra);
      return { entries } as JsonTree;
    });
}

/** A body, labelled with its kind so the run can show each kind reached each route. */
function bodyFor(doc: OpenApiDocument, operation: Operation, w: World): fc.Arbitrary<{ kind: string; bytes: Buffer | undefined }> {
  const text = (kind: string) => (value: string) => ({ kind, bytes: Buffer.from(value, 'utf8') });
  const huge = fc
    .tuple(fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 6 }), pick(['a', 'é', '\u0000']))
    .map(([size, unit]) => ({ kind: 'huge', bytes: Buffer.from(`{"email":"${unit.repeat(size)}"}`, 'utf8') }));
  const none = fc.constant({ kind: 'none', bytes: undefined });
  const schema = resolve(doc, operation.body?.schema);
  if (operation.body?.schema) {
    const plausible = plausibleValue(doc, '', schema, w);
    const valid = validValue(doc, '', schema, w);
    const wrongTypes = objectFor(doc, schema, w, () => jsonTree(2));
    return fc.oneof(
      { weight: 1, arbitrary: none },
      { weight: 3, arbitrary: malformedJson.map(text('malformed')) },
      { weight: 2, arbitrary: wrongTypes.map(writeJson).map(text('wrong-types')) },
      { weight: 3, arbitrary: plausible.map(writeJson).map(text('plausible')) },
      { weight: 4, arbitrary: valid.map(writeJson).map(text('valid')) },
      { weight: 3, arbitrary: withPollution(fc.oneof(valid, plausible)).map(writeJson).map(text('pollution')) },
      { weight: 1, arbitrary: huge },
    );
  }
  if (operation.body) {
    return fc.oneof(
      { weight: 1, arbitrary: none },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ kind: 'binary', bytes: Buffer.from(bytes) })) },
      { weight: 2, arbitrary: hostileString(200).map(text('text')) },
      { weight: 2, arbitrary: withPollution(jsonTree(2)).map(writeJson).map(text('pollution')) },
      { weight: 1, arbitrary: huge },
    );
  }
  // A route without a body gets one now and then: a raw client may send it anyway, even on GET.
  return fc.oneof({ weight: 6, arbitrary: none }, { weight: 1, arbitrary: malformedJson.map(text('unexpected')) }, { weight: 1, arbitrary: huge });
}

function queryFor(doc: OpenApiDocument, operation: Operation, w: World): fc.Arbitrary<string> {
  const declared = operation.query.map(({ name, schema }) =>
    fc.option(
      fc.oneof(plausibleValue(doc, name, schema, w).map((value) => (typeof value === 'string' ? value : JSON.stringify(value))), hostileString(40, 100)).map((value) => [name, value.slice(0, 100)] as const),
      // Half the time absent: a route with several optional parameters (wait, callback) must still
      // get requests that none of them refuses.
      { freq: 1 },
    ),
  );
  const extra = fc.array(
    fc.tuple(fc.oneof(pick(['__proto__', 'constructor', 'access_token', 'token', ...operation.query.map((q) => q.name)]), hostileString(12, 50)), hostileString(40, 100)),
    { maxLength: 3 },
  );
  return fc.tuple(fc.tuple(...declared), extra, fc.boolean()).map(([values, extras, raw]) => {
    const pairs = [...values.filter((pair) => pair !== null), ...extras] as (readonly [string, string])[];
    if (pairs.length === 0) return '';
    const encode = raw ? sloppyEncode : percentEncode;
    return `?${pairs.map(([name, value]) => `${encode(name)}=${encode(value)}`).join('&')}`;
  });
}

/**
 * Authorization headers. Where a valid token would delete its own account (DELETE /v1/users/me),
 * every valid token is the sacrificial account's, so the fuzzer and the operator live on.
 */
function authFor(operation: Operation, w: World): fc.Arbitrary<{ label: string; values: string[] }> {
  const own = operation.deletesCaller ? w.sacrificial.token : w.fuzzer.token;
  const operatorToken = operation.deletesCaller ? w.sacrificial.token : w.operator.token;
  const as = (label: string, ...values: string[]) => ({ label, values });
  return fc.oneof(
    { weight: operation.admin ? 3 : 12, arbitrary: fc.constant(as('user', `Bearer ${own}`)) },
    { weight: operation.admin ? 12 : 1, arbitrary: fc.constant(as('operator', `Bearer ${operatorToken}`)) },
    { weight: 1, arbitrary: fc.constant(as('none')) },
    { weight: 2, arbitrary: hostileString(300, 1500).map((junk) => as('garbage', toHeaderValue(`Bearer ${junk}`))) },
    { weight: 1, arbitrary: fc.integer({ min: 2000, max: HUGE_AUTHORIZATION_BYTES }).map((size) => as('huge', `Bearer ${'A'.repeat(size)}`)) },
    { weight: 1, arbitrary: fc.constant(as('duplicate', `Bearer ${own}`, `Bearer ${operatorToken}`)) },
    { weight: 1, arbitrary: fc.constant(as('joined', `Bearer ${own}, Bearer ${operatorToken}`)) },
    {
      weight: 1,
      arbitrary: pick([`Basic ${Buffer.from(`${w.fuzzer.email}:${PASSWORD}`).toString('base64')}`, `Token ${own}`, `Bearer`, `Bearer ${own}.`, `Bearer ${own} x`]).map((value) =>
        as('scheme', value),
      ),
    },
  );
}

function requestFor(doc: OpenApiDocument, operation: Operation, w: World): fc.Arbitrary<WireRequest> {
  return fc
    .record({
      // Other methods only where none is routed: a GET turned DELETE would delete the fuzzer itself.
      method: fc.oneof({ weight: 12, arbitrary: fc.constant(operation.method) }, { weight: 1, arbitrary: pick(['PUT', 'PATCH', 'OPTIONS', 'PROPFIND']) }),
      segments: fc.tuple(...operation.pathParams.map((name) => hostileSegment(pathParamPool(w, operation, name)))),
      query: queryFor(doc, operation, w),
      auth: authFor(operation, w),
      contentType: contentTypes(operation.body?.mediaTypes.length ? operation.body.mediaTypes : ['application/json']),
      body: bodyFor(doc, operation, w),
      requestId: requestIdHeader,
      requestIdTwice: fc.boolean(),
    })
    .map((r) => {
      let index = 0;
      const path = operation.template.replace(/\{\w+\}/g, () => r.segments[index++] ?? '') + r.query;
      const headers: [string, string][] = r.auth.values.map((value) => ['authorization', value]);
      if (r.contentType !== undefined) headers.push(['content-type', r.contentType]);
      if (r.requestId !== undefined) {
        headers.push(['x-request-id', r.requestId]);
        if (r.requestIdTwice) headers.push(['x-request-id', 'second-id']);
      }
      return { method: r.method, path, headers, body: r.body.bytes, labels: { auth: r.auth.label, body: r.body.kind } };
    });
}

// ---------------------------------------------------------------------------------------------
// The properties every answer must have.

// A V8 stack frame (`at fn (file:///x.ts:1:2)`, `at async fn (…)`, `at /x.js:1:2`) or a source location.
// Written without nested unbounded repeats: the one with `.+….*` took 250 ms on /openapi.json.
const TRACE = /\bat (?:[^\s()]+ ){0,3}\(?[^\s()]+:\d+:\d+\)?|node_modules|\.ts:\d+|\.js:\d+/;
const BCRYPT_HASH = /\$2[aby]\$\d{2}\$/;
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** RFC 9110's reason phrases: a problem's title is its status in words. */
const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** Creating or changing a function on an image no registry can be asked about is the one 5xx an answer may be. */
const IMAGE_REFUSALS: Record<number, string> = { 400: 'urn:faasbox:problem:image-not-found', 503: 'urn:faasbox:problem:registry-unavailable' };
const namesImage = (operation: Operation) => operation.key === 'POST /v1/functions' || operation.key === 'PATCH /v1/functions/{id}';

function describe(request: WireRequest, reply: WireReply): string {
  const headers = request.headers.map(([name, value]) => `${name}: ${value.length > 120 ? `${value.slice(0, 120)}…(${value.length})` : value}`);
  const body = request.body === undefined ? '(none)' : request.body.length > 300 ? `${request.body.subarray(0, 300).toString('utf8')}…(${request.body.length} bytes)` : request.body.toString('utf8');
  return `${request.method} ${request.path.slice(0, 300)}\n  ${headers.join('\n  ')}\n  body: ${body}\n→ ${reply.status} ${reply.headers['content-type'] ?? ''} ${reply.body.slice(0, 500)}`;
}

/**
 * Answered by Node's HTTP parser or by @hono/node-server before the app ran: a bare 400 or 431
 * without the request id that every answer of the app carries.
 */
const refusedBeforeApp = (reply: WireReply) => reply.headers['x-request-id'] === undefined && reply.body === '' && (reply.status === 400 || reply.status === 431);

/**
 * Why a request is malformed HTTP that the layers under the app refuse, if it is: Node's parser
 * takes only printable ASCII in the request target and 16 KiB of headers; @hono/node-server
 * refuses a backslash in the path (a path-confusion guard).
 */
function malformedOnTheWire(request: WireRequest): string | undefined {
  const query = request.path.indexOf('?');
  const path = query === -1 ? request.path : request.path.slice(0, query);
  if (/[^\x21-\x7e]/.test(request.path)) return 'request target not ASCII';
  if (path.includes('\\')) return 'backslash in the path';
  const headerBytes = request.path.length + request.headers.reduce((sum, [name, value]) => sum + name.length + value.length + 4, 200);
  if (headerBytes > 15_000) return 'headers near or over 16 KiB';
  return undefined;
}

function assertWellBehaved(w: World, operation: Operation, request: WireRequest, reply: WireReply) {
  const where = describe(request, reply);
  const imageRefused = namesImage(operation) && reply.body.includes(`"type":"${IMAGE_REFUSALS[reply.status]}"`);
  assert.ok(reply.status < 500 || (imageRefused && reply.status === 503), `a 5xx:\n${where}`);
  if (imageRefused) {
    // Refused before anything was decided: no function, no version.
    assert.is(reply.headers.location, undefined, `a refused image with a Location:\n${where}`);
    assert.is(reply.headers.etag, undefined, `a refused image with an ETag:\n${where}`);
    assert.match(reply.body, /"image":"/, `a refused image the problem does not name:\n${where}`);
  }
  if (refusedBeforeApp(reply)) {
    // Only malformed HTTP may be refused before the app; anything else must reach it.
    assert.ok(malformedOnTheWire(request), `refused before the app, yet well-formed:\n${where}`);
    return;
  }
  if (reply.status >= 400) {
    assert.is(reply.headers['content-type'], 'application/problem+json', `an error that is no problem+json:\n${where}`);
    const problem = JSON.parse(reply.body) as { type?: unknown; title?: unknown; status?: unknown; detail?: unknown };
    assert.is(problem.status, reply.status, `the problem's status differs from the answer's:\n${where}`);
    assert.match(String(problem.type), /^urn:faasbox:problem:[a-z0-9-]+$/, `a problem without a type:\n${where}`);
    assert.is(problem.title, REASON_PHRASES[reply.status] ?? problem.title, `a problem whose title is not its status's:\n${where}`);
    assert.ok(typeof problem.title === 'string' && problem.title.length > 0, `a problem without a title:\n${where}`);
    assert.type(problem.detail, 'string', `a problem without a detail:\n${where}`);
  }
  // A bearer-protected route challenges (RFC 6750 §3); a failed login (POST /v1/tokens) is no bearer failure.
  if (reply.status === 401 && operation.secured) assert.match(String(reply.headers['www-authenticate']), /^Bearer\b/, `a 401 without a Bearer challenge:\n${where}`);
  assert.not.match(reply.body, TRACE, `a stack trace in the answer:\n${where}`);
  assert.not.ok(reply.body.includes(JWT_SECRET), `the JWT secret in the answer:\n${where}`);
  assert.not.ok(reply.body.includes(KEEPER_SECRET), `the keeper's secret in the answer:\n${where}`);
  assert.not.match(reply.body, BCRYPT_HASH, `a password hash in the answer:\n${where}`);
  assert.match(String(reply.headers['x-request-id']), SAFE_REQUEST_ID, `an unsafe request id echoed:\n${where}`);
  // The keeper's token is never sent: no answer may hand the keeper's function or execution to anyone but an operator's audit.
  const keeperIds = [...w.keeper.functionIds, w.keeper.executionId];
  const touchesKeeper = keeperIds.some((id) => request.path.toLowerCase().includes(id));
  if (touchesKeeper && !request.path.startsWith('/v1/admin/')) {
    assert.ok(reply.status >= 400, `another user's resource was served:\n${where}`);
  }
}

/** User and system CPU of the server process so far (Linux /proc), to tell its cost from the fuzzer's. */
function serverCpuSeconds(server: ServerProcess): number {
  const fields = readFileSync(`/proc/${server.child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// ---------------------------------------------------------------------------------------------
// Accounts and the data that must survive.

async function newAccount(url: string, tag: string): Promise<Account> {
  const email = uniqueEmail(tag);
  const created = await call(url, 'POST', '/v1/users', { json: { email, password: PASSWORD } });
  assert.is(created.status, 201, JSON.stringify(created.body));
  const login = await call(url, 'POST', '/v1/tokens', { json: { email, password: PASSWORD } });
  assert.is(login.status, 200, JSON.stringify(login.body));
  return { id: created.body.id as string, email, token: login.body.token as string };
}

async function newFunction(url: string, token: string, image: string, spec: Record<string, unknown>): Promise<string> {
  const created = await call(url, 'POST', '/v1/functions', { token, json: { image, ...spec } });
  assert.is(created.status, 201, JSON.stringify(created.body));
  return created.body.id as string;
}

/** An execution that fails at the pull: recorded, finished, and no container started. */
async function failedExecution(url: string, token: string, functionId: string): Promise<string> {
  const reply = await call(url, 'POST', `/v1/functions/${functionId}/executions`, { token, body: 'input' });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  assert.is(reply.body.status, 'failed');
  return reply.body.executionId as string;
}

/** An asynchronous execution that fails (its image cannot be pulled), once it is on the dead-letter list. */
async function deadLetter(url: string, token: string, functionId: string): Promise<string> {
  const queued = await call(url, 'POST', `/v1/functions/${functionId}/executions?wait=false`, { token, body: 'input' });
  assert.is(queued.status, 202, JSON.stringify(queued.body));
  const executionId = queued.body.executionId as string;
  for (let tries = 0; tries < 200; tries++) {
    if ((await call(url, 'GET', `/v1/executions/${executionId}`, { token })).body.deadLetter) return executionId;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${executionId} never reached the dead-letter list`);
}

/** Everything the keeper can read, for a before/after comparison. */
async function snapshotOf(url: string, account: Account, functionIds: string[], executionId: string) {
  const read = async (path: string) => {
    const reply = await call(url, 'GET', path, { token: account.token });
    assert.is(reply.status, 200, `${path}: ${JSON.stringify(reply.body)}`);
    return reply.body as unknown;
  };
  const snapshot: Record<string, unknown> = {
    me: await read('/v1/users/me'),
    functions: await read('/v1/functions'),
    secrets: await read('/v1/secrets'),
    execution: await read(`/v1/executions/${executionId}`),
  };
  for (const id of functionIds) {
    snapshot[`function ${id}`] = await read(`/v1/functions/${id}`);
    snapshot[`history ${id}`] = await read(`/v1/functions/${id}/executions`);
  }
  return snapshot;
}

// ---------------------------------------------------------------------------------------------

const test = suite('hostile input');

test('setup: one platform, a keeper whose data must survive, a fuzzer, an operator', async () => {
  const registry = await startRegistry();
  const { busybox } = await ensureTestImages(registry.address);
  const gone = `${registry.address}/faasbox/busybox:gone-${process.pid}`;
  const digest = await pushTag(busybox, gone, { variant: String(process.pid) });
  const images = { gone, pinned: pinnedReference(gone, digest) };
  const server = await startServer({
    env: {
      FAASBOX_JWT_SECRET: JWT_SECRET,
      FAASBOX_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      FAASBOX_BCRYPT_COST: '10',
      FAASBOX_WORKER_ID: `hostile-input-${process.pid}`,
    },
  });
  world = { server, registry } as World;
  const url = server.url;
  const doc = (await call(url, 'GET', '/openapi.json')).body as OpenApiDocument;
  const [keeper, fuzzer, operator, sacrificial] = await Promise.all([
    newAccount(url, 'keeper'),
    newAccount(url, 'fuzzer'),
    newAccount(url, 'operator'),
    newAccount(url, 'sacrificial'),
  ]);
  grantOperator(server.dataDir, operator.email);
  const kept = await call(url, 'PUT', '/v1/secrets/db-password', { token: keeper.token, json: { value: KEEPER_SECRET } });
  assert.is(kept.status, 201, JSON.stringify(kept.body));
  const keeperFunctions = [
    await newFunction(url, keeper.token, gone, { name: 'kept', command: ['sh', '-c', 'cat'], env: { GREETING: 'héllo', EMPTY: '' }, secrets: { DB_PASSWORD: 'db-password' }, timeoutMs: 5000, memoryMb: 64 }),
    await newFunction(url, keeper.token, gone, { name: 'kept-too' }),
  ];
  // The first is executed throughout; the decoys are there to be deleted.
  const fuzzerFunctions = [
    await newFunction(url, fuzzer.token, gone, { name: 'target' }),
    ...(await Promise.all(['decoy-1', 'decoy-2', 'decoy-3'].map((name) => newFunction(url, fuzzer.token, gone, { name })))),
  ];
  // Pinned to it, and now gone from the registry: every execution fails at the pull.
  await deleteManifest(gone, digest);
  const keeperExecution = await failedExecution(url, keeper.token, keeperFunctions[0]!);
  const fuzzerExecution = await failedExecution(url, fuzzer.token, fuzzerFunctions[0]!);
  // One after the other: a user runs at most FAASBOX_MAX_ACTIVE_PER_USER at once.
  const own = await call(url, 'PUT', '/v1/secrets/fuzzer-own', { token: fuzzer.token, json: { value: 'the fuzzer\'s own secret' } });
  assert.is(own.status, 201, JSON.stringify(own.body));
  const fuzzerDeadLetters: string[] = [];
  for (let n = 0; n < 6; n++) fuzzerDeadLetters.push(await deadLetter(url, fuzzer.token, fuzzerFunctions[0]!));
  world = {
    server,
    registry,
    images,
    doc,
    operations: operationsOf(doc),
    keeper: { ...keeper, functionIds: keeperFunctions, executionId: keeperExecution, snapshot: await snapshotOf(url, keeper, keeperFunctions, keeperExecution) },
    fuzzer: { ...fuzzer, functionIds: fuzzerFunctions, executionId: fuzzerExecution, deadLetterIds: fuzzerDeadLetters },
    operator,
    sacrificial,
  };
  // The document is where the route list comes from: were it short, the fuzzing would prove little.
  assert.ok(world.operations.length >= 15, `only ${world.operations.length} operations in /openapi.json`);
});

test(`every operation in /openapi.json, ${RUNS_PER_OPERATION} hostile requests each: no 5xx, only problem+json errors, no trace or secret, no other user's data`, async () => {
  const w = ready();
  const statuses: Record<string, number> = {};
  const refusals: Record<string, number> = {};
  const slowest: { request: string; ms: number }[] = [];
  const perOperation: Record<string, { requests: number; statuses: Record<string, number>; bodies: Record<string, number>; auth: Record<string, number> }> = {};
  const count = (tally: Record<string, number>, key: string | number) => {
    tally[key] = (tally[key] ?? 0) + 1;
  };
  const started = Date.now();
  const cpuBefore = { test: process.cpuUsage(), server: serverCpuSeconds(w.server) };
  const results = await Promise.allSettled(
    w.operations.map((operation, index) => {
      const tally = (perOperation[operation.key] = { requests: 0, statuses: {}, bodies: {}, auth: {} });
      const property = fc.asyncProperty(requestFor(w.doc, operation, w), async (request) => {
        const sent = Date.now();
        const reply = await send(w.server.url, request);
        slowest.push({ request: `${operation.key} → ${reply.status}`, ms: Date.now() - sent });
        slowest.sort((a, b) => b.ms - a.ms).splice(3);
        tally.requests++;
        count(tally.statuses, reply.status);
        count(tally.bodies, request.labels.body);
        count(tally.auth, request.labels.auth);
        count(statuses, reply.status);
        if (refusedBeforeApp(reply)) count(refusals, malformedOnTheWire(request) ?? 'well-formed');
        assertWellBehaved(w, operation, request, reply);
      });
      // No shrinking: each step replays requests against a server whose state moved on; the
      // counterexample and the seed below are printed as they are.
      return fc.assert(property, { seed: SEED + index, numRuns: RUNS_PER_OPERATION, endOnFailure: true, includeErrorInReport: true });
    }),
  );
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected' ? [`${w.operations[index]?.key} (seed ${SEED + index}): ${String((result.reason as Error).message ?? result.reason)}`] : [],
  );
  const requests = Object.values(perOperation).reduce((sum, tally) => sum + tally.requests, 0);
  reportFigure('hostile-input: fuzzing', {
    seed: SEED,
    operations: w.operations.length,
    runsPerOperation: RUNS_PER_OPERATION,
    requests,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    cpuSeconds: {
      server: Math.round((serverCpuSeconds(w.server) - cpuBefore.server) * 10) / 10,
      fuzzer: Math.round(process.cpuUsage(cpuBefore.test).user / 1e5) / 10,
    },
    statuses,
    refusedBeforeApp: refusals,
    slowest,
    perOperation: Object.fromEntries(Object.entries(perOperation).map(([key, tally]) => [key, { requests: tally.requests, statuses: tally.statuses }])),
  });
  assert.equal(failures, [], `RELIABILITY_FUZZ_SEED=${SEED}\n${failures.join('\n\n')}`);

  // Meaningful only if the garbage reached every route in every shape, and some of it got through.
  for (const operation of w.operations) {
    const tally = perOperation[operation.key]!;
    assert.is(tally.requests, RUNS_PER_OPERATION, operation.key);
    const expectedBodies = operation.body?.schema ? ['malformed', 'wrong-types', 'plausible', 'valid', 'pollution', 'huge'] : operation.body ? ['binary', 'pollution', 'huge'] : ['none'];
    for (const kind of expectedBodies) assert.ok(tally.bodies[kind], `${operation.key} got no ${kind} body: ${JSON.stringify(tally.bodies)}`);
    for (const label of operation.admin ? ['user', 'operator', 'garbage'] : ['user', 'garbage']) assert.ok(tally.auth[label], `${operation.key} got no ${label} Authorization: ${JSON.stringify(tally.auth)}`);
    if (operation.body) assert.ok(tally.statuses[413], `${operation.key} never refused a body over the limit: ${JSON.stringify(tally.statuses)}`);
    // A 429 is the handler's own decision too (the caller at the execution limit, decided after the
    // body was read and the function found): the fuzzer's executions share 4 slots and may all meet it.
    const accepted = Object.keys(tally.statuses).some((status) => status.startsWith('2') || status === '429');
    assert.ok(accepted || operation.deletesCaller, `${operation.key} never got past validation: ${JSON.stringify(tally.statuses)}`);
  }
});

test('the server is still up and logged no unhandled failure', async () => {
  const w = ready();
  assert.is(w.server.child.exitCode, null, 'the server exited');
  assert.is((await call(w.server.url, 'GET', '/readyz')).status, 200);
  const failures = w.server.output.filter((line) => /unhandled|uncaught|"level":"?(50|60|error|fatal)/i.test(line) && !/pull|image|absent|gone-|127\.0\.0\.1:9/i.test(line));
  assert.equal(failures, [], 'the server logged errors');
});

test("nothing lost: the keeper's user, functions, execution and history read the same as before", async () => {
  const w = ready();
  const after = await snapshotOf(w.server.url, w.keeper, w.keeper.functionIds, w.keeper.executionId);
  assert.equal(after, w.keeper.snapshot);
});

test('prototype pollution left no trace: a new account gets the defaults, not what the payloads carried', async () => {
  const w = ready();
  const url = w.server.url;
  const fresh = await newAccount(url, 'after');
  const me = await call(url, 'GET', '/v1/users/me', { token: fresh.token });
  assert.is(me.status, 200);
  assert.equal(Object.keys(me.body).sort(), ['createdAt', 'email', 'id']);
  // Inherited from a polluted Object.prototype, these would replace the defaults (`?? default`).
  const created = await call(url, 'POST', '/v1/functions', { token: fresh.token, json: { name: 'plain', image: w.images.pinned } });
  assert.is(created.status, 201, JSON.stringify(created.body));
  assert.is(created.body.timeoutMs, DEFAULT_TIMEOUT_MS);
  assert.is(created.body.memoryMb, DEFAULT_MEMORY_MB);
  assert.equal(created.body.env, {});
  assert.is(created.body.command, null);
  assert.not.ok('polluted' in created.body);
  const listed = await call(url, 'GET', '/v1/functions', { token: fresh.token });
  assert.equal(listed.body.functions, [created.body]);
  // An inherited `operator: true` would open the admin routes, `deleted: true` would close everything.
  const admin = await call(url, 'GET', '/v1/admin/projections', { token: fresh.token });
  assert.is(admin.status, 403);
  assert.is((await call(url, 'GET', '/v1/admin/projections', { token: w.operator.token })).status, 200);
  // The bodies the fuzzer sent with `__proto__` were refused as such, and the key never became data.
  const polluted = await call(url, 'POST', '/v1/functions', {
    token: fresh.token,
    body: '{"name":"p","image":"127.0.0.1:9/a:1","env":{"__proto__":{"A":"1"}}}',
    headers: { 'content-type': 'application/json' },
  });
  assert.is(polluted.status, 400);
  assert.is((await call(url, 'GET', '/v1/functions', { token: fresh.token })).body.functions.length, 1);
});

test('an image no registry can be asked about is 503, one its registry lacks 400: problem+json naming it, and nothing recorded', async () => {
  const w = ready();
  const url = w.server.url;
  const account = await newAccount(url, 'images');
  const fn = await newFunction(url, account.token, w.images.pinned, { name: 'only' });
  const before = await snapshotOf(url, account, [fn], await failedExecution(url, account.token, fn));
  for (const [image, status] of [[UNREACHABLE_IMAGE, 503], [w.images.gone, 400]] as const) {
    for (const [method, path, json] of [['POST', '/v1/functions', { name: 'refused', image }], ['PATCH', `/v1/functions/${fn}`, { image }]] as const) {
      const answer = await call(url, method, path, { token: account.token, json });
      assert.is(answer.status, status, `${method} ${image}: ${JSON.stringify(answer.body)}`);
      assert.is(answer.headers.get('content-type'), 'application/problem+json');
      assert.equal([answer.body.type, answer.body.image], [IMAGE_REFUSALS[status], image]);
      assert.not.match(JSON.stringify(answer.body), TRACE);
    }
  }
  assert.equal(await snapshotOf(url, account, [fn], (before.execution as { executionId: string }).executionId), before);
});

test.after(async () => {
  await world?.server?.stop();
  await world?.registry?.stop();
});

test.run();
