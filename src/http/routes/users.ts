import { type OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { deleteUser } from '../../commands/delete-user.ts';
import { registerUser } from '../../commands/register-user.ts';
import type { AppDeps } from '../deps.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import { rejectPrototypeKeys } from '../middleware/reject-prototype-keys.ts';
import type { AppEnv } from '../env.ts';
import { CredentialsSchema, DeletedSchema, UserSchema, internalError, jsonBodyRefusals, locationHeader, problem, unauthorized } from '../schemas.ts';

export function addUserRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {
  const register = createRoute({
    method: 'post',
    path: '/v1/users',
    operationId: 'createUser',
    tags: ['users'],
    summary: 'Register a user',
    security: [],
    middleware: rejectPrototypeKeys(),
    request: { body: { required: true, content: { 'application/json': { schema: CredentialsSchema } } } },
    responses: {
      201: {
        description: 'Registered',
        headers: locationHeader('`/v1/users/me`'),
        content: { 'application/json': { schema: UserSchema } },
      },
      400: problem('Invalid email or password, or malformed JSON'),
      409: problem('The email is already registered'),
      ...jsonBodyRefusals,
      500: internalError,
    },
  });
  app.openapi(register, async (c) => {
    const user = await registerUser(deps, c.req.valid('json'), c.get('requestId'));
    c.header('location', '/v1/users/me');
    return c.json(user, 201);
  });

  const me = createRoute({
    method: 'get',
    path: '/v1/users/me',
    operationId: 'getMyUser',
    tags: ['users'],
    summary: 'The calling user',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    responses: {
      200: { description: 'The user', content: { 'application/json': { schema: UserSchema } } },
      401: unauthorized,
      500: internalError,
    },
  });
  app.openapi(me, (c) => {
    const { userId, email, createdAt } = c.get('principal');
    return c.json({ id: userId, email, createdAt }, 200);
  });

  const remove = createRoute({
    method: 'delete',
    path: '/v1/users/me',
    operationId: 'deleteUser',
    tags: ['users'],
    summary: 'Delete the calling user, its functions and its tokens; frees the email',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    responses: {
      200: { description: 'Deleted', content: { 'application/json': { schema: DeletedSchema } } },
      401: unauthorized,
      500: internalError,
    },
  });
  app.openapi(remove, async (c) => {
    await deleteUser(deps, c.get('principal').userId, c.get('requestId'));
    return c.json({ deleted: true as const }, 200);
  });
}
