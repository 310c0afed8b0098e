import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Platform } from '../../platform.ts';
import type { AppEnv } from '../env.ts';
import { problemResponse } from '../problem.ts';

export function addHealthRoutes(app: OpenAPIHono<AppEnv>, platform: Platform) {
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  // Ready means able to serve: the store answers and the read models have caught up once.
  app.get('/readyz', async (c) => {
    try {
      await platform.store.ping();
    } catch {
      return problemResponse(c, 503, 'not-ready', 'the event store does not answer');
    }
    if (!platform.projections.runner.caughtUp) {
      return problemResponse(c, 503, 'not-ready', 'the read models are still catching up');
    }
    return c.json({ status: 'ready' });
  });
}
