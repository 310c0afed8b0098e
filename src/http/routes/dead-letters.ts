import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { discardDeadLetter, redriveAllDeadLetters, redriveDeadLetter } from '../../commands/dead-letters.ts';
import type { ExecutionSummary } from '../../../projections/executions.ts';
import type { AppDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import { DeletedSchema, ExecutionStatusSchema, IdParamSchema, internalError, locationHeader, problem, retryLater, unauthorized } from '../schemas.ts';
import { requireOperator } from './admin.ts';

const DeadLetterEntrySchema = z
  .object({
    executionId: z.uuid(),
    functionId: z.uuid(),
    ownerId: z.uuid(),
    status: ExecutionStatusSchema,
    reason: z.string().openapi({ description: 'Why it ended there: its last failure, and how many attempts it had' }),
    attempts: z.number().int(),
    queuedAt: z.iso.datetime(),
    deadLetteredAt: z.iso.datetime(),
  })
  .openapi('DeadLetterEntry');

const DeadLetterListSchema = z.object({ deadLetters: z.array(DeadLetterEntrySchema) }).openapi('DeadLetterList');

const RedrivenSchema = z
  .object({
    executionId: z.uuid().openapi({ description: 'The new execution' }),
    redriveOf: z.uuid(),
    status: z.literal('queued'),
  })
  .openapi('Redriven');

const LimitQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() });

const entryOf = (summary: ExecutionSummary) => ({
  executionId: summary.executionId,
  functionId: summary.functionId,
  ownerId: summary.ownerId,
  status: summary.status,
  reason: summary.deadLetterReason ?? '',
  attempts: summary.attempt,
  queuedAt: summary.queuedAt,
  deadLetteredAt: summary.deadLetteredAt!,
});

/**
 * The dead-letter list: asynchronous executions that ended without success after their last
 * attempt (src/domain/retries.ts). Their records stay; the list is what still asks for a decision.
 */
export function addDeadLetterRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {
  const common = { tags: ['dead letters'], security: [{ bearerAuth: [] }], middleware: authenticated };

  const list = createRoute({
    ...common,
    method: 'get',
    path: '/v1/dead-letters',
    operationId: 'listDeadLetters',
    summary: "The caller's dead letters, newest first",
    request: { query: LimitQuerySchema },
    responses: {
      200: { description: 'The list', content: { 'application/json': { schema: DeadLetterListSchema } } },
      400: problem('Invalid limit'),
      401: unauthorized,
      500: internalError,
    },
  });
  app.openapi(list, (c) => {
    const listed = deps.projections.executions.deadLetters(c.get('principal').userId, c.req.valid('query').limit ?? 100);
    return c.json({ deadLetters: listed.map(entryOf) }, 200);
  });

  const redrive = createRoute({
    ...common,
    method: 'post',
    path: '/v1/dead-letters/{id}/redrive',
    operationId: 'redriveDeadLetter',
    summary: 'Run a dead letter again, as a new asynchronous execution linked to it',
    description: 'The dead letter leaves the list. Redriving it again (twice at once included) answers with the same new execution.',
    request: { params: IdParamSchema },
    responses: {
      202: {
        description: 'Queued',
        headers: locationHeader('`/v1/executions/{executionId}` of the new execution'),
        content: { 'application/json': { schema: RedrivenSchema } },
      },
      401: unauthorized,
      403: problem('The execution belongs to another user'),
      404: problem('No such execution, it is not on the dead-letter list, or its function was deleted'),
      409: problem('Its stdin was not kept (more than 1 MiB): submit it again'),
      429: retryLater("The caller's or the platform's executions are at their limit; it stays on the list"),
      500: internalError,
      503: retryLater('The job queue is unavailable'),
    },
  });
  app.openapi(redrive, async (c) => {
    const redriven = await redriveDeadLetter(deps, c.req.valid('param').id, c.get('principal').userId, c.get('requestId'));
    c.header('location', `/v1/executions/${redriven.executionId}`);
    return c.json({ ...redriven, status: 'queued' as const }, 202);
  });

  const redriveAll = createRoute({
    ...common,
    method: 'post',
    path: '/v1/dead-letters/redrive',
    operationId: 'redriveAllDeadLetters',
    summary: "Run all the caller's dead letters again (up to `limit`, oldest first)",
    request: { query: LimitQuerySchema },
    responses: {
      200: {
        description: 'What became of each: redriven, or why not (at the limit, for one, stays on the list)',
        content: {
          'application/json': {
            schema: z
              .object({
                redriven: z.array(z.object({ executionId: z.uuid(), redriveExecutionId: z.uuid() })),
                failed: z.array(z.object({ executionId: z.uuid(), code: z.string(), detail: z.string() })),
              })
              .openapi('RedriveAll'),
          },
        },
      },
      400: problem('Invalid limit'),
      401: unauthorized,
      500: internalError,
      503: retryLater('The job queue is unavailable'),
    },
  });
  app.openapi(redriveAll, async (c) => {
    const result = await redriveAllDeadLetters(deps, c.get('principal').userId, c.get('requestId'), c.req.valid('query').limit ?? 100);
    return c.json(result, 200);
  });

  const discard = createRoute({
    ...common,
    method: 'delete',
    path: '/v1/dead-letters/{id}',
    operationId: 'deleteDeadLetter',
    summary: 'Take a dead letter off the list without running it again (its execution record stays)',
    request: { params: IdParamSchema },
    responses: {
      200: { description: 'Taken off the list', content: { 'application/json': { schema: DeletedSchema } } },
      401: unauthorized,
      403: problem('The execution belongs to another user'),
      404: problem('No such execution, or it is not on the dead-letter list'),
      500: internalError,
    },
  });
  app.openapi(discard, async (c) => {
    await discardDeadLetter(deps, c.req.valid('param').id, c.get('principal').userId, c.get('requestId'));
    return c.json({ deleted: true as const }, 200);
  });

  const everyone = createRoute({
    ...common,
    middleware: [...authenticated, requireOperator(deps)],
    tags: ['admin'],
    method: 'get',
    path: '/v1/admin/dead-letters',
    operationId: 'listAllDeadLetters',
    summary: "Every user's dead letters, newest first (operators)",
    request: { query: LimitQuerySchema },
    responses: {
      200: { description: 'The list', content: { 'application/json': { schema: DeadLetterListSchema } } },
      400: problem('Invalid limit'),
      401: unauthorized,
      403: problem('The caller is not an operator (`faasbox operators grant`)'),
      500: internalError,
    },
  });
  app.openapi(everyone, (c) => {
    const listed = deps.projections.executions.deadLetters(null, c.req.valid('query').limit ?? 100);
    return c.json({ deadLetters: listed.map(entryOf) }, 200);
  });
}
