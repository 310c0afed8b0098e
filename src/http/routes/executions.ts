import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { submitExecution } from '../../commands/submit-execution.ts';
import { checkCallbackUrl } from '../../domain/callbacks.ts';
import { START_KINDS } from '../../domain/execution-outcome.ts';
import { executionRecord } from '../../queries/execution-view.ts';
import { executionHistory, ownedExecution } from '../../queries/executions.ts';
import { ownedFunction } from '../../queries/functions.ts';
import type { AppDeps } from '../deps.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import type { AppEnv } from '../env.ts';
import { ExecutionStatusSchema, IdParamSchema, bodyTooLarge, internalError, locationHeader, problem, retryLater, unauthorized } from '../schemas.ts';

const CallbackSchema = z
  .object({
    url: z.string(),
    state: z.enum(['pending', 'delivered', 'abandoned']).openapi({ description: 'pending: not sent yet, or to be tried again; delivered: a 2xx answer; abandoned: no more attempts' }),
    deliveries: z.array(
      z.object({
        attempt: z.number().int(),
        at: z.iso.datetime().openapi({ description: 'When the attempt was made: the `t` of its signature' }),
        status: z.number().int().nullable().openapi({ description: "The receiver's HTTP status; null: no answer" }),
        error: z.string().nullable().openapi({ description: 'Why it failed when the status does not say (no answer in time, a redirect, which is never followed)' }),
      }),
    ),
  })
  .openapi('ExecutionCallback');

const AttemptSchema = z
  .object({
    attempt: z.number().int(),
    status: ExecutionStatusSchema,
    reason: z.string().nullable(),
    exitCode: z.number().int().nullable(),
    workerId: z.string().nullable(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .openapi('ExecutionAttempt');

const DeadLetterSchema = z
  .object({
    at: z.iso.datetime(),
    reason: z.string(),
    redriveExecutionId: z.uuid().nullable().openapi({ description: 'The execution that ran it again (it left the dead-letter list then)' }),
    discardedAt: z.iso.datetime().nullable().openapi({ description: 'When its owner took it off the list without running it again' }),
  })
  .openapi('DeadLetter', { description: 'Set when it ended without success and nobody waited for it: it went on the dead-letter list' });

const ExecutionResultSchema = z
  .object({
    executionId: z.uuid(),
    functionId: z.uuid(),
    functionVersion: z.number().int().openapi({ description: 'The version of its function it runs (GET /v1/functions/{id}/versions)' }),
    imageDigest: z
      .string()
      .nullable()
      .openapi({ description: "The digest of the image it runs, as its function's version pinned it; null: a version made before pinning, run by its tag", example: 'sha256:…' }),
    status: ExecutionStatusSchema,
    exitCode: z.number().int().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    truncated: z.boolean(),
    durationMs: z.number().int().nullable(),
    reason: z.string().nullable(),
    queuedAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
    start: z.enum(START_KINDS).nullable().openapi({ description: 'prestarted: its container was started ahead of the call; cold: created for it; reused: it served earlier executions of the function (reuse), cleaned since; null: not started yet, or not known' }),
    lateResults: z.array(z.object({ type: z.string(), at: z.string() })),
    attempt: z.number().int().openapi({ description: "The current attempt: 1 unless the function's retry policy ran it again" }),
    attempts: z.array(AttemptSchema).openapi({ description: 'The attempts before the current one, oldest first' }),
    nextAttemptAt: z.iso
      .datetime()
      .nullable()
      .openapi({ description: 'Set while the current attempt waits for its backoff: not handed to the workers before then' }),
    deadLetter: DeadLetterSchema.nullable(),
    redriveOf: z.uuid().nullable().openapi({ description: 'The dead-lettered execution this one runs again' }),
    callback: CallbackSchema.nullable().openapi({ description: 'The callback its submission named (`callback=`), and its deliveries so far; null: none' }),
  })
  .openapi('Execution');

/** Printable ASCII, 1 to 255 characters, bare or as a quoted Structured Fields string. */
const IDEMPOTENCY_KEY = /^(?:"[\x20-\x21\x23-\x7e]{1,255}"|[\x20-\x7e]{1,255})$/;

const QueuedSchema = z.object({ executionId: z.uuid(), status: z.literal('queued') }).openapi('QueuedExecution');

const ExecutionSummarySchema = z
  .object({
    executionId: z.uuid(),
    status: ExecutionStatusSchema,
    exitCode: z.number().int().nullable(),
    durationMs: z.number().int().nullable(),
    reason: z.string().nullable(),
    queuedAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
    attempt: z.number().int().openapi({ description: "The current attempt: 1 unless the function's retry policy ran it again" }),
    deadLetteredAt: z.iso.datetime().nullable().openapi({ description: 'When it went on the dead-letter list, while it is on it' }),
  })
  .openapi('ExecutionSummary');

export function addExecutionRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {

  const execute = createRoute({
    method: 'post',
    path: '/v1/functions/{id}/executions',
    operationId: 'executeFunction',
    tags: ['executions'],
    summary: "Execute a function: the body is the container's stdin",
    description:
      'Waits for the outcome and answers 200 for every recorded outcome (succeeded, or failed with an exit code or a reason), 504 on timeout. With `?wait=false` answers 202 at once; poll `GET /v1/executions/{id}`.',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: {
      params: IdParamSchema,
      query: z.object({
        wait: z
          .enum(['true', 'false'])
          .optional()
          .openapi({ description: '`false`: answer 202 as soon as the execution is queued instead of waiting for its outcome' }),
        callback: z
          .string()
          .optional()
          .openapi({
            description:
              'With `wait=false` only: an http(s) URL, on a host the operator allows (FAASBOX_CALLBACK_HOSTS), that receives the final record (as `GET /v1/executions/{id}` answers it, without `callback`) as a signed JSON POST once the execution ended for good; retried with backoff, at least once (dedupe on `Faasbox-Delivery`); see `GET /v1/callbacks/signing-key`',
            example: 'https://hooks.example.com/faasbox?order=42',
          }),
      })
        .superRefine(({ wait, callback }, ctx) => {
          if (callback === undefined) return;
          if (wait !== 'false') ctx.addIssue({ code: 'custom', path: ['callback'], message: 'needs wait=false: a callback is for executions nobody waits for' });
          const target = checkCallbackUrl(callback, deps.config.callbacks.allowedHosts);
          if (!target.ok) ctx.addIssue({ code: 'custom', path: ['callback'], message: target.reason });
        }),
      headers: z.object({
        'idempotency-key': z
          .string()
          .regex(IDEMPOTENCY_KEY, 'must be 1 to 255 printable ASCII characters, bare or in double quotes')
          .optional()
          .openapi({
            description:
              'Runs the function at most once per key, user and day: a repeat answers with the execution the first started (waiting for it unless `wait=false`, then as it is now, 200) and says `Idempotent-Replayed: true`; the same key for another function, body or callback is refused (422)',
            example: '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
          }),
      }),
      body: {
        description: "The container's stdin, byte for byte, whatever its media type; may be empty",
        // Bytes, not text: OpenAPI 3.1 says arbitrary bytes with no schema at all (an empty one),
        // where `format: binary` would tell generated clients to send a string.
        content: { 'application/octet-stream': { schema: {} } },
      },
    },
    responses: {
      200: {
        description: 'The outcome; for a repeated Idempotency-Key, the execution the first request started',
        headers: locationHeader('`/v1/executions/{executionId}`').extend({
          'Idempotent-Replayed': z.literal('true').optional().openapi({ description: 'Present when the answer is the execution of an earlier request with the same Idempotency-Key' }),
        }),
        content: { 'application/json': { schema: ExecutionResultSchema } },
      },
      202: {
        description: 'Queued',
        headers: locationHeader('`/v1/executions/{executionId}`: poll it for the outcome'),
        content: { 'application/json': { schema: QueuedSchema } },
      },
      400: problem('`wait` is neither `true` nor `false`; a `callback` without `wait=false`, not an http(s) URL, with a user name or password, to a host the operator does not allow, or callbacks are not enabled'),
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function'),
      413: bodyTooLarge,
      422: problem('The Idempotency-Key was used in the last 24 hours for another function, body or callback'),
      429: retryLater("The caller's executions (FAASBOX_MAX_ACTIVE_PER_USER), or the platform's (FAASBOX_MAX_ACTIVE), are at their limit"),
      500: internalError,
      503: retryLater('The job queue is unavailable; the execution is recorded as failed'),
      504: {
        description: 'Timed out: the execution, with status "timedOut"',
        headers: locationHeader('`/v1/executions/{executionId}`'),
        content: { 'application/json': { schema: ExecutionResultSchema } },
      },
    },
  });
  app.openapi(execute, async (c) => {
    const definition = await ownedFunction(deps, c.req.valid('param').id, c.get('principal').userId);
    const wait = c.req.valid('query').wait !== 'false';
    const callback = c.req.valid('query').callback;
    const stdin = new Uint8Array(await c.req.arrayBuffer());
    const key = c.req.valid('header')['idempotency-key'];
    const started = await submitExecution(deps, definition, stdin, {
      wait,
      correlationId: c.get('requestId'),
      // A Structured Fields string (the IETF draft's form) or the bare key many clients send.
      idempotencyKey: key === undefined ? undefined : key.replace(/^"(.*)"$/, '$1'),
      // As the schema checked it, normalized (the same URL is the same callback for a key).
      callbackUrl: callback === undefined ? undefined : (checkCallbackUrl(callback, deps.config.callbacks.allowedHosts) as { url: string }).url,
    });
    c.header('location', `/v1/executions/${started.executionId}`);
    if (started.replayed) c.header('idempotent-replayed', 'true');
    if (!started.outcome) return c.json({ executionId: started.executionId, status: 'queued' as const }, 202);

    const state = await started.outcome;
    if (state.status !== 'present') throw new Error('a started execution has no stream');
    const view = await executionRecord(deps, state);
    // A timeout is an outcome, not a bad request: the answer is the execution, as for 200.
    return view.status === 'timedOut' ? c.json(view, 504) : c.json(view, 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/v1/executions/{id}',
    operationId: 'getExecution',
    tags: ['executions'],
    summary: 'An execution: its state and, once finished, its result',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: { params: IdParamSchema },
    responses: {
      200: { description: 'The execution', content: { 'application/json': { schema: ExecutionResultSchema } } },
      401: unauthorized,
      403: problem('The execution belongs to another user'),
      404: problem('No such execution (also for an id that is no UUID)'),
      500: internalError,
    },
  });
  app.openapi(get, async (c) => {
    const state = await ownedExecution(deps, c.req.valid('param').id, c.get('principal').userId);
    return c.json(await executionRecord(deps, state), 200);
  });

  const history = createRoute({
    method: 'get',
    path: '/v1/functions/{id}/executions',
    operationId: 'listExecutions',
    tags: ['executions'],
    summary: "A function's executions, newest first",
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: {
      params: IdParamSchema,
      query: z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() }),
    },
    responses: {
      200: {
        description: 'History',
        content: { 'application/json': { schema: z.object({ executions: z.array(ExecutionSummarySchema) }) } },
      },
      400: problem('Invalid limit'),
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function'),
      500: internalError,
    },
  });
  app.openapi(history, async (c) => {
    const definition = await ownedFunction(deps, c.req.valid('param').id, c.get('principal').userId);
    const executions = executionHistory(deps, definition.functionId, c.req.valid('query').limit ?? 100)
      .map(({ executionId, status, exitCode, durationMs, reason, queuedAt, startedAt, finishedAt, attempt, deadLetteredAt }) => ({
        executionId,
        status,
        exitCode,
        durationMs,
        reason,
        queuedAt,
        startedAt,
        finishedAt,
        attempt,
        deadLetteredAt,
      }));
    return c.json({ executions }, 200);
  });
}
