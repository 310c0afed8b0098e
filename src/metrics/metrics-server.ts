/**
 * GET /metrics for a process with no HTTP api (the `worker` role). node:http, which Bun and Deno
 * provide too; the api serves its registry from its own app instead.
 */
import { createServer } from 'node:http';
import type { Registry } from 'prom-client';

export type MetricsServer = {
  /** The port it listens on: the one the system chose when asked for 0. */
  port: number;
  close(): Promise<void>;
};

export function startMetricsServer(registry: Registry, address: { port: number; hostname: string }): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: only GET /metrics is served here\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      () => {
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics could not be collected\n');
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.hostname, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve({
        port: typeof bound === 'object' && bound !== null ? bound.port : address.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // A scraper's keep-alive connection must not hold the process open.
            server.closeAllConnections?.();
          }),
      });
    });
  });
}
