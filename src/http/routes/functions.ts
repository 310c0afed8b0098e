import { type OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { createFunction } from '../../commands/create-function.ts';
import { deleteFunction } from '../../commands/delete-function.ts';
import { DomainError } from '../../domain/errors.ts';
import { type FunctionDefinition, minWarmOf, reuseOf } from '../../domain/functions.ts';
import { UUID } from '../../domain/ids.ts';
import { retryPolicyOf } from '../../domain/retries.ts';
import { functionsOf, ownedFunction } from '../../queries/functions.ts';
import type { AppDeps } from '../deps.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import { rejectPrototypeKeys } from '../middleware/reject-prototype-keys.ts';
import type { AppEnv } from '../env.ts';
import { DeletedSchema, IdParamSchema, functionSchemas, internalError, jsonBodyRefusals, locationHeader, problem, unauthorized } from '../schemas.ts';

export const functionView = (definition: FunctionDefinition) => ({
  id: definition.functionId,
  name: definition.name,
  image: definition.image,
  command: definition.command,
  env: definition.env,
  timeoutMs: definition.timeoutMs,
  memoryMb: definition.memoryMb,
  minWarm: minWarmOf(definition),
  reuse: reuseOf(definition),
  retry: definition.retry ?? null,
  createdAt: definition.createdAt,
});

export function addFunctionRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {
  const { FunctionInputSchema, FunctionSchema, FunctionListSchema } = functionSchemas(deps.config.functionLimits, deps.config.allowedRegistries);

  const create = createRoute({
    method: 'post',
    path: '/v1/functions',
    operationId: 'createFunction',
    tags: ['functions'],
    summary: 'Register a function: a container image and how to run it',
    security: [{ bearerAuth: [] }],
    middleware: [...authenticated, rejectPrototypeKeys()],
    request: { body: { required: true, content: { 'application/json': { schema: FunctionInputSchema } } } },
    responses: {
      201: {
        description: 'Created',
        headers: locationHeader('`/v1/functions/{id}` of the new function'),
        content: { 'application/json': { schema: FunctionSchema } },
      },
      400: problem('Invalid field (named in the answer), an image from a registry not allowed, or malformed JSON'),
      401: unauthorized,
      ...jsonBodyRefusals,
      500: internalError,
    },
  });
  app.openapi(create, async (c) => {
    const input = c.req.valid('json');
    const limits = deps.config.functionLimits;
    const definition = await createFunction(
      deps,
      c.get('principal').userId,
      {
        name: input.name,
        image: input.image,
        command: input.command ?? null,
        env: input.env ?? {},
        timeoutMs: input.timeoutMs ?? limits.defaultTimeoutMs,
        memoryMb: input.memoryMb ?? limits.defaultMemoryMb,
        minWarm: input.minWarm ?? 0,
        reuse: input.reuse ?? false,
        ...(input.retry ? { retry: retryPolicyOf(input.retry) } : {}),
      },
      c.get('requestId'),
    );
    c.header('location', `/v1/functions/${definition.functionId}`);
    return c.json(functionView(definition), 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/v1/functions',
    operationId: 'listFunctions',
    tags: ['functions'],
    summary: "The caller's functions, newest first",
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    responses: {
      200: { description: 'Functions', content: { 'application/json': { schema: FunctionListSchema } } },
      401: unauthorized,
      500: internalError,
    },
  });
  app.openapi(list, (c) => {
    const functions = functionsOf(deps, c.get('principal').userId).map(functionView);
    return c.json({ functions }, 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/v1/functions/{id}',
    operationId: 'getFunction',
    tags: ['functions'],
    summary: 'One function',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: { params: IdParamSchema },
    responses: {
      200: { description: 'The function', content: { 'application/json': { schema: FunctionSchema } } },
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function (also for an id that is no UUID)'),
      500: internalError,
    },
  });
  app.openapi(get, async (c) => {
    const definition = await ownedFunction(deps, c.req.valid('param').id, c.get('principal').userId);
    return c.json(functionView(definition), 200);
  });

  const remove = createRoute({
    method: 'delete',
    path: '/v1/functions/{id}',
    operationId: 'deleteFunction',
    tags: ['functions'],
    summary: 'Delete a function',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: { params: IdParamSchema },
    responses: {
      200: { description: 'Deleted', content: { 'application/json': { schema: DeletedSchema } } },
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function, or already deleted'),
      500: internalError,
    },
  });
  app.openapi(remove, async (c) => {
    const { id } = c.req.valid('param');
    if (!UUID.test(id)) throw new DomainError('FunctionNotFound', 'no such function');
    await deleteFunction(deps, c.get('principal').userId, id.toLowerCase(), c.get('requestId'));
    return c.json({ deleted: true as const }, 200);
  });
}
