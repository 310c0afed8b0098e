import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { RequestError, getRequestListener } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { connect as connectNats } from '@nats-io/transport-node';
import { openBetterSqlite3 } from '../adapters/sqlite/better-sqlite3-driver.ts';
import { PROBLEM_CONTENT_TYPE, problemJson } from '../http/problem.ts';
import { lingerBeforeClosing } from './lingering-close.ts';
import { runFaasbox } from './start.ts';

/** Node: @hono/node-server and better-sqlite3. Run with `node --import tsx src/entry/node.ts [role]`. */
runFaasbox({
  name: 'node',
  serve: (fetch, { port, hostname, bodyLimitBytes, linger }) =>
    new Promise((resolve, reject) => {
      // A request Node can parse but not turn into a URL (a backslash in the path) never reaches
      // the app; it still gets a problem, not @hono/node-server's empty 400.
      const listener = getRequestListener(fetch, {
        hostname,
        errorHandler: (error) =>
          error instanceof RequestError
            ? problem(400, 'malformed-request', 'the request target is not a valid URL')
            : problem(500, 'internal', 'an unexpected error occurred'),
      });
      const server = createServer(listener);
      // `Expect: 100-continue`: the client waits for a word before it sends the body. A declared
      // length over the limit gets no 100: the app answers its 413 from the headers alone, and
      // no byte of the body is asked for. (With a listener here, Node sends no 100 by itself.)
      server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
        if (Number(request.headers['content-length'] ?? 0) <= bodyLimitBytes) response.writeContinue();
        void listener(request, response);
      });
      lingerBeforeClosing(server, linger);
      // Requests Node's parser refuses (oversized headers, bytes not allowed in HTTP): the same.
      server.on('clientError', refuseMalformed);
      server.once('error', reject);
      server.listen(port, hostname, () => {
        const address = server.address();
        resolve({ port: typeof address === 'object' && address ? address.port : port, close });
      });
      // A client reuses an idle connection until its own keep-alive timeout (undici's: the
      // server's hint less a second). Node's 5 s default leaves that second as the only margin,
      // and a loaded machine loses it: the server closes the socket as a request arrives on it,
      // and the client gets ECONNRESET for a POST it cannot safely retry. The client closes
      // first with a long server timeout (Fastify's default is 72 s for the same reason).
      server.keepAliveTimeout = 72_000;
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
  connectNats,
  clientAddressOf: (c) => getConnInfo(c).remote.address ?? 'unknown',
});

const problem = (status: number, slug: string, detail: string) =>
  new Response(problemJson(status, slug, detail), { status, headers: { 'content-type': PROBLEM_CONTENT_TYPE } });

/** Node's clientError: answer what its parser refused as problem+json, then drop the connection. */
function refuseMalformed(error: Error & { code?: string }, socket: Socket) {
  if (!socket.writable || error.code === 'ECONNRESET') return void socket.destroy();
  const [status, detail] =
    error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are too large'] : [400, 'the request is not valid HTTP/1.1'];
  const body = problemJson(status, 'malformed-request', detail);
  const reason = status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
