import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { openBetterSqlite3 } from '../adapters/sqlite/better-sqlite3-driver.ts';
import { runFaasbox } from './start.ts';

/** Node: @hono/node-server and better-sqlite3. Run with `node --import tsx src/entry/node.ts [role]`. */
runFaasbox({
  name: 'node',
  serve: (fetch, { port, hostname }) =>
    new Promise((resolve, reject) => {
      // Plain HTTP/1.1: serve() makes an http.Server unless told to use http2.
      const server = serve({ fetch, port, hostname }, (info) => resolve({ port: info.port, close })) as Server;
      server.once('error', reject);
      const close = () =>
        new Promise<void>((closed) => {
          // close() ends the connections idle at that moment; one still answering a request would
          // stay open for its keep-alive timeout after the answer (Bun and Deno close it at once).
          const sweep = setInterval(() => server.closeIdleConnections(), 100);
          server.close(() => {
            clearInterval(sweep);
            closed();
          });
        });
    }),
  openSqlite: openBetterSqlite3,
  clientAddressOf: (c) => getConnInfo(c).remote.address ?? 'unknown',
});
