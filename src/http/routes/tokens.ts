import { type OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { issueToken } from '../../commands/issue-token.ts';
import type { AppDeps } from '../deps.ts';
import { rejectPrototypeKeys } from '../middleware/reject-prototype-keys.ts';
import type { AppEnv, ClientAddressOf } from '../env.ts';
import { CredentialsSchema, TokenSchema, internalError, jsonBodyRefusals, problem, retryLater, unauthorized } from '../schemas.ts';

export function addTokenRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, clientAddressOf: ClientAddressOf) {
  const login = createRoute({
    method: 'post',
    path: '/v1/tokens',
    operationId: 'getToken',
    tags: ['users'],
    summary: 'Log in: a JWT for the user (the same one again while it has over half its lifetime left)',
    security: [],
    middleware: rejectPrototypeKeys(),
    request: { body: { required: true, content: { 'application/json': { schema: CredentialsSchema } } } },
    responses: {
      200: { description: 'A bearer token', content: { 'application/json': { schema: TokenSchema } } },
      400: problem('Invalid body or malformed JSON'),
      401: { ...unauthorized, description: 'Wrong email or password (one answer for both)' },
      ...jsonBodyRefusals,
      429: retryLater('Too many failed logins for this email from this address; the right password is refused too until Retry-After'),
      500: internalError,
    },
  });
  app.openapi(login, async (c) => {
    const credentials = c.req.valid('json');
    const token = await issueToken(
      deps,
      { ...credentials, clientAddress: clientAddressOf(c) },
      c.get('requestId'),
    );
    c.header('cache-control', 'no-store');
    return c.json(token, 200);
  });
}
