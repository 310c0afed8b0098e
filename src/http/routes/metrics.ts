import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';

/**
 * GET /metrics in Prometheus' text format, without authentication like /healthz (docs/architecture.md, "HTTP"): it
 * names no user, function or execution, but it tells load and capacity, so it belongs on an
 * operators' network, not the public one.
 */
export function addMetricsRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const { registry } = deps.metrics;
  app.get('/metrics', async (c) =>
    c.body(await registry.metrics(), 200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }),
  );
}
