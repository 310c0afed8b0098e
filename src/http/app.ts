import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { DomainError } from '../domain/errors.ts';
import { DOMAIN_STATUS } from './domain-status.ts';
import type { AppDeps } from './deps.ts';
import type { AppEnv, ClientAddressOf } from './env.ts';
import { authenticate } from './middleware/authenticate.ts';
import { observeRequests } from './middleware/metrics.ts';
import { problemResponse } from './problem.ts';
import { addAdminRoutes } from './routes/admin.ts';
import { addDeadLetterRoutes } from './routes/dead-letters.ts';
import { addSecretRoutes } from './routes/secrets.ts';
import { addCallbackRoutes } from './routes/callbacks.ts';
import { type DocsSources, addDocsRoutes } from './routes/docs.ts';
import { addConsoleRoutes } from './console/routes.tsx';
import type { OverHttps } from './console/session.ts';
import { addExecutionRoutes } from './routes/executions.ts';
import { addFunctionRoutes } from './routes/functions.ts';
import { addHealthRoutes } from './routes/health.ts';
import { addMetricsRoutes } from './routes/metrics.ts';
import { addTokenRoutes } from './routes/tokens.ts';
import { addUserRoutes } from './routes/users.ts';

export type AppOptions = {
  clientAddressOf: ClientAddressOf;
  /** Where unexpected failures are reported; the caller only ever sees a generic 500. */
  reportError?: (error: unknown, correlationId: string) => void;
  docs: DocsSources;
  /** Whether a request came over HTTPS, as the socket or a trusted proxy says (the console's Secure cookie); default: never. */
  overHttps?: OverHttps;
};


/** The whole HTTP API, built from web standards only, so every runtime serves the same app. */
export function createApp(deps: AppDeps, options: AppOptions): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const errors = result.error.issues.map((issue) => ({
        field: issue.path.map(String).join('.') || '(body)',
        message: issue.message,
      }));
      const detail = errors.map((error) => `${error.field}: ${error.message}`).join('; ');
      return problemResponse(c, 400, 'invalid-request', detail, { errors });
    },
  });

  // The correlation id of every event and log line the request causes: the caller's X-Request-Id
  // when it is safe to log and echo (word characters, '-' and '=', up to 128), else a new UUID.
  app.use('*', requestId({ limitLength: 128 }));
  app.use('*', observeRequests(deps.metrics, deps.log));
  app.use('*', secureHeaders());
  const limitBody = bodyLimit({
    maxSize: deps.config.bodyLimitBytes,
    onError: (c) =>
      // The unread rest of the body makes the connection unusable: the client must not reuse it.
      // The server reads and discards that rest before it closes, so that a client still sending
      // reads this answer rather than a reset (each entry's lingering close; README, Runtimes).
      problemResponse(c, 413, 'body-too-large', `the body exceeds ${deps.config.bodyLimitBytes} bytes`, {}, { connection: 'close' }),
  });
  // A GET or HEAD request has no body (a fetch Request cannot carry one), so there is nothing to
  // limit; asking would cost: on Node, reading `body` turns @hono/node-server's lightweight
  // request into a whole undici Request, about 0.4 ms of every authenticated GET (measured with `npm run bench`).
  app.use('/v1/*', (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  // One key import and one cache of verified tokens for every route that needs a token.
  const authenticated = authenticate(deps);
  addHealthRoutes(app, deps);
  addMetricsRoutes(app, deps);
  addUserRoutes(app, deps, authenticated);
  addTokenRoutes(app, deps, options.clientAddressOf);
  addFunctionRoutes(app, deps, authenticated);
  addExecutionRoutes(app, deps, authenticated);
  addDeadLetterRoutes(app, deps, authenticated);
  addSecretRoutes(app, deps, authenticated);
  addCallbackRoutes(app, deps, authenticated);
  addAdminRoutes(app, deps, authenticated);
  addDocsRoutes(app, options.docs);
  addConsoleRoutes(app, deps, {
    overHttps: options.overHttps ?? (() => false),
    clientAddressOf: options.clientAddressOf,
    readPackageFile: options.docs.readPackageFile,
    reportError: options.reportError,
  });

  app.notFound((c) => problemResponse(c, 404, 'not-found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((error, c) => toProblem(error, c, options));
  return app;
}

function toProblem(error: unknown, c: Context<AppEnv>, options: AppOptions): Response {
  if (error instanceof DomainError) {
    const { status, slug } = DOMAIN_STATUS[error.code];
    const retryAfter = error.retryAfterSeconds;
    const headers: Record<string, string> = {
      ...(retryAfter === undefined ? {} : { 'retry-after': String(Math.max(1, retryAfter)) }),
      // RFC 9110: every 401 names a scheme the client can use; for Faasbox that is a bearer token.
      ...(status === 401 ? { 'www-authenticate': 'Bearer realm="faasbox"' } : {}),
    };
    return problemResponse(c, status, slug, error.message, error.details ?? {}, headers);
  }
  if (error instanceof HTTPException) {
    const challenge = error.res?.headers.get('www-authenticate');
    const status = error.status as ContentfulStatusCode;
    const slug = status === 401 ? 'unauthorized' : `http-${status}`;
    const detail = status === 401 ? 'a valid bearer token is required' : error.message;
    return problemResponse(c, status, slug, detail, {}, challenge ? { 'www-authenticate': challenge } : {});
  }
  options.reportError?.(error, c.get('requestId'));
  return problemResponse(c, 500, 'internal', 'an unexpected error occurred; quote the correlation id when reporting it');
}
