import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { malformedRequest, problem } from '../schemas.ts';
import { problemResponse } from '../problem.ts';

export function addHealthRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const health = createRoute({
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tags: ['service'],
    summary: 'Liveness: the process answers HTTP',
    security: [],
    responses: {
      200: { description: 'Alive', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } },
      '4XX': malformedRequest,
    },
  });
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));

  // Ready means able to serve: the store answers and the read models have caught up once.
  const ready = createRoute({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tags: ['service'],
    summary: 'Readiness: the event store answers and the read models have caught up; route traffic by this',
    security: [],
    responses: {
      200: { description: 'Ready', content: { 'application/json': { schema: z.object({ status: z.literal('ready') }) } } },
      '4XX': malformedRequest,
      503: problem('Not ready: the event store does not answer, or the read models are still catching up'),
    },
  });
  // Documented apart from its handler: the typed handler of app.openapi takes no problem+json
  // built by problemResponse.
  app.openAPIRegistry.registerPath(ready);
  app.get('/readyz', async (c) => {
    try {
      await deps.store.ping();
    } catch {
      return problemResponse(c, 503, 'not-ready', 'the event store does not answer');
    }
    if (!deps.projections.runner.caughtUp) {
      return problemResponse(c, 503, 'not-ready', 'the read models are still catching up');
    }
    return c.json({ status: 'ready' }, 200);
  });
}
