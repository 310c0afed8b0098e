import type { Config } from '../config-type.ts';

type LingerBounds = Config['linger'];

/**
 * A lingering close for servers that read a request's body only as fast as someone reads its
 * stream (Deno.serve). The app stops reading a body it refuses (its 413 over the limit) and
 * leaves the stream locked; Deno then neither reads nor closes, and a client still sending
 * stays stuck until it gives up. Here the app gets a stream of its own over the body; whatever
 * it left unread is read after its answer and discarded, as node:http's lingering close does
 * (src/entry/lingering-close.ts), within the same bounds; past them the body is cancelled and
 * Deno closes the connection (or, at times, still reads a Content-Length body to its end first:
 * the time bound holds, the byte bound not always).
 */
export function takeOverBody(request: Request): { request: Request; discardRest(bounds: LingerBounds): void } {
  if (request.body === null) return { request, discardRest() {} };
  const source = request.body.getReader();
  let ended = false;
  // No high-water mark: nothing is read ahead of the app, so what it leaves is still the server's.
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await source.read();
        if (done) {
          ended = true;
          controller.close();
        } else controller.enqueue(value);
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return {
    request: new Request(request, { body, duplex: 'half' } as RequestInit),
    discardRest(bounds) {
      if (!ended) void discard(source, bounds);
    },
  };
}

async function discard(source: ReadableStreamDefaultReader<Uint8Array>, bounds: LingerBounds) {
  const cutOff = () => void source.cancel().catch(() => {});
  const timer = setTimeout(cutOff, bounds.maxMs);
  try {
    let drained = 0;
    for (;;) {
      const { done, value } = await source.read();
      if (done) return;
      drained += value.byteLength;
      if (drained > bounds.maxBytes) return cutOff();
    }
  } catch {
    // The client went away: nothing is left to read.
  } finally {
    clearTimeout(timer);
  }
}
