import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout } from 'node:timers';
import type { Config } from '../config-type.ts';

/** How much of an unwanted request body is read and thrown away before the connection closes. */
type LingerBounds = Config['linger'];

/**
 * A lingering close for node:http, as nginx (`lingering_close`) and Go's net/http do it.
 *
 * An answer sent before the request's body was read (a 413, with `connection: close`) makes
 * Node close the socket as soon as the answer is written. The client is still sending; the
 * kernel answers the bytes nobody will read with a reset, and a client that sees the reset
 * before the answer (undici's fetch, mostly) fails with EPIPE or ECONNRESET and never reads the
 * 413. So instead: the answer goes out with a FIN after it, the rest of the body is read and
 * discarded until the client stops sending (it closes, or the body ends), and only then the
 * socket closes. A client that goes on past `maxBytes` or `maxMs` is cut off, reset and all.
 */
export function lingerBeforeClosing(server: Server, bounds: LingerBounds): void {
  const latestRequest = new WeakMap<Socket, IncomingMessage>();
  const remember = (request: IncomingMessage) => latestRequest.set(request.socket, request);
  server.prependListener('request', remember);
  server.prependListener('checkContinue', remember);
  server.on('connection', (socket: Socket) => {
    // destroySoon (end, then destroy once written) is what node:http calls to end a connection
    // after an answer that closes it (resOnFinish, lib/_http_server.js), and what
    // @hono/node-server calls on a body it drained too long. It is not a documented API: should a
    // Node release stop calling it, test/oversized-bodies.e2e.test.ts fails.
    const closeNow = socket.destroySoon.bind(socket);
    let lingering = false;
    socket.destroySoon = () => {
      const request = latestRequest.get(socket);
      if (request === undefined || request.complete) return closeNow();
      if (lingering) return;
      lingering = true;
      drainThenClose(socket, request, bounds, closeNow);
    };
  });
}

function drainThenClose(socket: Socket, request: IncomingMessage, bounds: LingerBounds, closeNow: () => void) {
  // The answer, then a FIN: nothing more comes from here, and a client that has read the whole
  // answer stops sending and closes, which ends the linger early.
  socket.end();
  const cutOff = () => socket.destroy();
  const timer = setTimeout(cutOff, bounds.maxMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // The answer is out, so nothing wants the body any more; a consumer left behind (the app's
  // body stream) would pause it at its high-water mark and keep what is only to be dropped.
  // node:http does the same for a body nobody read (IncomingMessage#_dump).
  request.removeAllListeners('data');
  let drained = 0;
  request.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > bounds.maxBytes) cutOff();
  });
  // The whole body came: no byte is left to be reset, so the socket closes as it would have.
  request.once('end', closeNow);
  request.resume();
}
