import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { SIGNATURE_ALGORITHM, SIGNATURE_HEADER, callbackSigningKey, toBase64Url } from '../../auth/callback-signing.ts';
import type { AppDeps } from '../deps.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import type { AppEnv } from '../env.ts';
import { internalError, unauthorized } from '../schemas.ts';

const SigningKeySchema = z
  .object({
    key: z.string().openapi({ description: 'The key, base64url without padding (32 bytes): decode it, and use the bytes as the HMAC key' }),
    algorithm: z.literal(SIGNATURE_ALGORITHM),
    header: z.literal(SIGNATURE_HEADER),
  })
  .openapi('CallbackSigningKey');

export function addCallbackRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {
  const signingKey = createRoute({
    method: 'get',
    path: '/v1/callbacks/signing-key',
    operationId: 'getCallbackSigningKey',
    tags: ['executions'],
    summary: "The caller's key for verifying callbacks",
    description:
      'Every callback carries `Faasbox-Signature: t=<unix seconds>,v1=<hex>`, where the hex is the HMAC-SHA256, under this key, of `<t>.<the raw body>`. Compare in constant time and refuse a `t` far from now (5 minutes). The key is the same at every api, changes only when the operator changes FAASBOX_JWT_SECRET, and is the caller\'s alone.',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    responses: {
      200: { description: 'The key', content: { 'application/json': { schema: SigningKeySchema } } },
      401: unauthorized,
      500: internalError,
    },
  });
  app.openapi(signingKey, async (c) => {
    const key = await callbackSigningKey(deps.config.jwtSecret, c.get('principal').userId);
    c.header('cache-control', 'no-store');
    return c.json({ key: toBase64Url(key), algorithm: SIGNATURE_ALGORITHM, header: SIGNATURE_HEADER } as const, 200);
  });
}
