import { connect as connectNats } from '@nats-io/transport-node';
import { openBunSqlite } from '../adapters/sqlite/bun-sqlite-driver.ts';
import { runFaasbox } from './start.ts';

/** Bun: Bun.serve, bun:sqlite and nats.js's Node transport. Run with `bun src/entry/bun.ts [role]`. */

/** Bun closes a connection idle this long (its default), and never more than 255 s. */
const IDLE_TIMEOUT_SECONDS = 10;

runFaasbox({
  name: 'bun',
  async serve(fetch, { port, hostname }) {
    const server = Bun.serve({
      port,
      hostname,
      idleTimeout: IDLE_TIMEOUT_SECONDS,
      async fetch(request, server) {
        // The idle timeout counts while a request waits, and a synchronous execution waits up to
        // its function's timeout (FAASBOX_MAX_TIMEOUT_MS, beyond 255 s): lifted while the app
        // answers, restored for the idle keep-alive connection after.
        server.timeout(request, 0);
        try {
          return keepToReadTheRest(await fetch(request, server));
        } finally {
          server.timeout(request, IDLE_TIMEOUT_SECONDS);
        }
      },
    });
    return { port: server.port, close: () => server.stop() };
  },
  openSqlite: openBunSqlite,
  connectNats,
  clientAddressOf: (c) => (c.env as BunServer).requestIP(c.req.raw)?.address ?? 'unknown',
});

/**
 * The app marks an answer sent over an unread body (its 413) `connection: close`. Bun then closes
 * the socket as soon as the answer is written, while the client is still sending, and the client
 * gets a reset instead of the 413. Unmarked, Bun reads the rest of the body, discards it and keeps
 * the connection: it lingers by itself, bounded by its own maxRequestBodySize (128 MiB by default;
 * a larger declared length is refused by Bun before the app sees it). README, "Runtimes".
 */
function keepToReadTheRest(response: Response): Response {
  if (response.headers.get('connection') === 'close') response.headers.delete('connection');
  return response;
}

/** The few Bun APIs used here: tsc runs with Node's types, and @types/bun would add the rest. */
type BunServer = {
  port: number;
  stop(closeActiveConnections?: boolean): Promise<void>;
  timeout(request: Request, seconds: number): void;
  requestIP(request: Request): { address: string; family: string; port: number } | null;
};
declare const Bun: {
  serve(options: {
    port: number;
    hostname: string;
    idleTimeout: number;
    fetch(request: Request, server: BunServer): Promise<Response>;
  }): BunServer;
};
