import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { deleteSecret, secretInfos, setSecret } from '../../commands/secrets.ts';
import { secretsOf } from '../../commands/function-env.ts';
import type { AppDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import { rejectPrototypeKeys } from '../middleware/reject-prototype-keys.ts';
import { DeletedSchema, SecretInputSchema, SecretListSchema, SecretNameSchema, SecretSchema, internalError, jsonBodyRefusals, locationHeader, problem, unauthorized } from '../schemas.ts';

const NameParamSchema = z.object({ name: SecretNameSchema.openapi({ param: { name: 'name', in: 'path' }, example: 'db-password' }) });

/**
 * A user's secrets: set, listed and deleted by name; a value is never answered, logged or
 * audited. Functions take them as variables (`secrets` of a function), read at each call.
 */
export function addSecretRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {
  const common = { tags: ['secrets'], security: [{ bearerAuth: [] }] };

  const put = createRoute({
    ...common,
    method: 'put',
    path: '/v1/secrets/{name}',
    operationId: 'setSecret',
    summary: 'Set a secret: a new one, or a new value for the next calls of every function that takes it',
    description: 'The value is encrypted under your data key before it is stored, and destroyed with it when you delete your account.',
    middleware: [...authenticated, rejectPrototypeKeys()],
    request: { params: NameParamSchema, body: { required: true, content: { 'application/json': { schema: SecretInputSchema } } } },
    responses: {
      200: { description: 'Its value replaced', content: { 'application/json': { schema: SecretSchema } } },
      201: { description: 'Created', headers: locationHeader('`/v1/secrets/{name}`'), content: { 'application/json': { schema: SecretSchema } } },
      400: problem('Invalid name or value, or malformed JSON'),
      401: unauthorized,
      ...jsonBodyRefusals,
      500: internalError,
    },
  });
  app.openapi(put, async (c) => {
    const { name } = c.req.valid('param');
    const { secret, created } = await setSecret(deps, c.get('principal').userId, name, c.req.valid('json').value, c.get('requestId'));
    if (!created) return c.json(secret, 200);
    c.header('location', `/v1/secrets/${name}`);
    return c.json(secret, 201);
  });

  const list = createRoute({
    ...common,
    method: 'get',
    path: '/v1/secrets',
    operationId: 'listSecrets',
    summary: "The caller's secrets by name (never their values)",
    middleware: authenticated,
    responses: {
      200: { description: 'Secrets, by name', content: { 'application/json': { schema: SecretListSchema } } },
      401: unauthorized,
      500: internalError,
    },
  });
  app.openapi(list, async (c) => c.json({ secrets: secretInfos(await secretsOf(deps, c.get('principal').userId)) }, 200));

  const remove = createRoute({
    ...common,
    method: 'delete',
    path: '/v1/secrets/{name}',
    operationId: 'deleteSecret',
    summary: 'Delete a secret',
    middleware: authenticated,
    request: { params: NameParamSchema },
    responses: {
      200: { description: 'Deleted', content: { 'application/json': { schema: DeletedSchema } } },
      400: problem('Invalid name'),
      401: unauthorized,
      404: problem('No such secret'),
      409: problem('A function of yours takes it (`functions` names them): change them first'),
      500: internalError,
    },
  });
  app.openapi(remove, async (c) => {
    await deleteSecret(deps, c.get('principal').userId, c.req.valid('param').name, c.get('requestId'));
    return c.json({ deleted: true as const }, 200);
  });
}
