import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { statusOf } from '../../../actors/execution.ts';
import { submitExecution } from '../../commands/submit-execution.ts';
import { START_KINDS } from '../../domain/execution-outcome.ts';
import type { ExecutionState } from '../../domain/executions.ts';
import { executionHistory, ownedExecution } from '../../queries/executions.ts';
import { ownedFunction } from '../../queries/functions.ts';
import type { AppDeps } from '../deps.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import type { AppEnv } from '../env.ts';
import { ExecutionStatusSchema, IdParamSchema, bodyTooLarge, internalError, locationHeader, problem, retryLater, unauthorized } from '../schemas.ts';

const ExecutionResultSchema = z
  .object({
    executionId: z.uuid(),
    functionId: z.uuid(),
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
  })
  .openapi('ExecutionSummary');

export function executionView(state: Extract<ExecutionState, { status: 'present' }>) {
  const { context } = state.snapshot;
  const output = context.output;
  return {
    executionId: state.queued.executionId,
    functionId: state.queued.functionId,
    status: statusOf(state.snapshot),
    exitCode: output?.exitCode ?? null,
    stdout: output?.stdout ?? '',
    stderr: output?.stderr ?? '',
    truncated: output?.truncated ?? false,
    durationMs: output?.durationMs ?? null,
    reason: context.reason,
    queuedAt: state.queued.queuedAt,
    startedAt: context.startedAt,
    finishedAt: context.finishedAt,
    start: context.start,
    lateResults: context.late,
  };
}

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
      }),
      headers: z.object({
        'idempotency-key': z
          .string()
          .regex(IDEMPOTENCY_KEY, 'must be 1 to 255 printable ASCII characters, bare or in double quotes')
          .optional()
          .openapi({
            description:
              'Runs the function at most once per key, user and day: a repeat answers with the execution the first started (waiting for it unless `wait=false`, then as it is now, 200) and says `Idempotent-Replayed: true`; the same key for another function or body is refused (422)',
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
      400: problem('`wait` is neither `true` nor `false`'),
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function'),
      413: bodyTooLarge,
      422: problem('The Idempotency-Key was used in the last 24 hours for another function or body'),
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
    const stdin = new Uint8Array(await c.req.arrayBuffer());
    const key = c.req.valid('header')['idempotency-key'];
    const started = await submitExecution(deps, definition, stdin, {
      wait,
      correlationId: c.get('requestId'),
      // A Structured Fields string (the IETF draft's form) or the bare key many clients send.
      idempotencyKey: key === undefined ? undefined : key.replace(/^"(.*)"$/, '$1'),
    });
    c.header('location', `/v1/executions/${started.executionId}`);
    if (started.replayed) c.header('idempotent-replayed', 'true');
    if (!started.outcome) return c.json({ executionId: started.executionId, status: 'queued' as const }, 202);

    const state = await started.outcome;
    if (state.status !== 'present') throw new Error('a started execution has no stream');
    const view = executionView(state);
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
    return c.json(executionView(state), 200);
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
      .map(({ functionId: _, ownerId: __, deadline: ___, ...summary }) => summary);
    return c.json({ executions }, 200);
  });
}
