import type { Context, MiddlewareHandler } from 'hono';
import { METHOD_NAME_ALL } from 'hono/router';
import { matchedRoutes } from 'hono/route';
import { type Logger } from '../../ports/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { AppEnv } from '../env.ts';

/** The route label of a request no route matched: its path would let anyone mint label values. */
export const UNMATCHED_ROUTE = 'unmatched';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Probes and scrapes come every few seconds: counted, but not worth a log line each. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The pattern of the route the request was routed to (`/v1/functions/:id`), whoever answered
 * it: a 413 from the body limit or a 401 from authentication still names the route. Middleware
 * (`app.use`, method ALL) is no route; with nothing else matched, the request is `unmatched`.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== METHOD_NAME_ALL) return route.path;
  }
  return UNMATCHED_ROUTE;
}

/**
 * Counts and times every request by method, route pattern and status, and writes one access
 * line per request: method, route pattern, status, duration, correlation id. Never the path,
 * the query string or a header: they may hold ids or a token.
 */
export const observeRequests =
  (metrics: Metrics, log: Logger): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const labels = {
        method: KNOWN_METHODS.has(c.req.method) ? c.req.method : 'other',
        route: routeLabel(c),
        status: String(c.res.status),
      };
      metrics.httpRequests.inc(labels);
      metrics.httpRequestSeconds.observe(labels, seconds);
      if (!QUIET_PATHS.has(labels.route)) {
        log(c.res.status >= 500 ? 'warn' : 'info', 'http request', {
          ...labels,
          status: c.res.status,
          durationMs: Math.round(seconds * 1000),
          correlationId: c.get('requestId'),
        });
      }
    }
  };
