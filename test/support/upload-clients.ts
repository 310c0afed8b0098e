/**
 * Three ways to send a large body, each reporting what the client itself read back: Node's
 * fetch (undici), curl, and a raw socket that speaks HTTP/1.1 by hand. Built to tell "the server
 * answered and the client read it" from "the client failed with a network error", so nothing
 * here retries or hides an error. And a careless client (sendRegardless) for the server's bounds.
 */
import { spawn } from 'node:child_process';
import { type Socket, connect } from 'node:net';

/**
 * What a client read: an answer (its status, content type and body), or the error it failed
 * with. The raw socket also says whether a `100 Continue` came first (only it can see one).
 */
export type Outcome = { status: number; contentType: string | null; body: string; continued?: boolean } | { error: string };

export type Upload = {
  url: string;
  headers: Record<string, string>;
  /** The body as bytes, and the same bytes in a file (curl reads it from there). */
  body: Uint8Array;
  file: string;
  /** `length`: a Content-Length body; `chunked`: Transfer-Encoding: chunked. */
  framing: 'length' | 'chunked';
  /** Sends `Expect: 100-continue` and waits for the server's word before the body. */
  expectContinue: boolean;
};

const CHUNK = 64 * 1024;

export async function viaFetch(upload: Upload): Promise<Outcome> {
  // undici refuses an Expect header outright (NotSupportedError), so fetch never sends one.
  if (upload.expectContinue) throw new Error('fetch cannot send Expect: 100-continue');
  const body =
    upload.framing === 'length'
      ? upload.body
      : new ReadableStream<Uint8Array>({
          start(controller) {
            for (let at = 0; at < upload.body.length; at += CHUNK) controller.enqueue(upload.body.subarray(at, at + CHUNK));
            controller.close();
          },
        });
  try {
    const response = await fetch(upload.url, { method: 'POST', headers: upload.headers, body, duplex: 'half' } as RequestInit);
    return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
  } catch (error) {
    return { error: describe(error) };
  }
}

const CURL_MARK = '\n--curl-write-out--';

export function viaCurl(upload: Upload): Promise<Outcome> {
  const headers = Object.entries(upload.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  // Curl decides by itself whether to send Expect (for bodies over 1 MiB, it does): said explicitly.
  const expect = upload.expectContinue ? ['-H', 'Expect: 100-continue', '--expect100-timeout', '10'] : ['-H', 'Expect:'];
  const framing = upload.framing === 'chunked' ? ['-H', 'Transfer-Encoding: chunked'] : [];
  const args = ['-sS', '--max-time', '60', '-X', 'POST', '--data-binary', `@${upload.file}`, ...headers, ...expect, ...framing];
  args.push('-o', '-', '-w', `${CURL_MARK}%{http_code} %{content_type}`, upload.url);
  return new Promise((resolve) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (error) => resolve({ error: describe(error) }));
    child.on('close', (code) => {
      const at = stdout.lastIndexOf(CURL_MARK);
      const [status = '0', contentType = ''] = at < 0 ? [] : stdout.slice(at + CURL_MARK.length).split(' ');
      // curl prints 000 when it read no answer at all.
      if (code !== 0 || status === '000') return resolve({ error: `curl exited ${code}: ${stderr.trim() || 'no answer'}` });
      resolve({ status: Number(status), contentType: contentType || null, body: stdout.slice(0, at) });
    });
  });
}

/**
 * HTTP/1.1 by hand, as a careful client does it: writes the body with backpressure while it
 * reads, stops writing once a whole answer has come (RFC 9112 §9.5: an early answer means the
 * rest is not wanted), then closes. With Expect it sends nothing until the server has spoken,
 * and sends the body only after a 100.
 */
export function viaSocket(upload: Upload): Promise<Outcome> {
  const url = new URL(upload.url);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = Buffer.alloc(0);
    let settled = false;
    let sending = false;
    let sawContinue = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle({ error: 'no whole answer within 30 s' }), 30_000);

    const head = [`POST ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
    for (const [name, value] of Object.entries(upload.headers)) head.push(`${name}: ${value}`);
    head.push(upload.framing === 'length' ? `content-length: ${upload.body.length}` : 'transfer-encoding: chunked');
    if (upload.expectContinue) head.push('expect: 100-continue');

    const sendBody = async () => {
      sending = true;
      for (let at = 0; at < upload.body.length && !settled; at += CHUNK) {
        const piece = upload.body.subarray(at, at + CHUNK);
        const framed = upload.framing === 'chunked' ? [`${piece.length.toString(16)}\r\n`, piece, '\r\n'] : [piece];
        let flushed = true;
        for (const part of framed) flushed = socket.write(part) && flushed;
        if (!flushed) await drainedOrClosed(socket);
      }
      if (!settled && upload.framing === 'chunked') socket.write('0\r\n\r\n');
    };

    socket.on('connect', () => {
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
      if (!upload.expectContinue) void sendBody();
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (;;) {
        const answer = parseAnswer(received);
        if (answer === null) return;
        if (answer.status !== 100) return settle({ status: answer.status, contentType: answer.contentType, body: answer.body, continued: sawContinue });
        if (sawContinue) return settle({ error: 'a second 100 Continue' });
        sawContinue = true;
        received = received.subarray(answer.length);
        if (!sending) void sendBody();
      }
    });
    socket.on('error', (error) => settle({ error: describe(error) }));
    socket.on('close', () => settle({ error: `the connection closed before a whole answer (${received.length} bytes read)` }));
  });
}

/** Resolves when the socket takes more writes, or can take none ever again. */
function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done).off('close', done);
      resolve();
    };
    socket.once('drain', done).once('close', done);
  });
}

/** A whole answer at the start of `bytes` (Content-Length framed, as Faasbox answers), or null for "not yet". */
function parseAnswer(bytes: Buffer): { status: number; contentType: string | null; body: string; length: number } | null {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const header = (name: string) =>
    lines.find((line) => line.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim() ?? null;
  const length = status === 100 ? 0 : Number(header('content-length') ?? NaN);
  if (Number.isNaN(length)) throw new Error(`an answer without content-length: ${statusLine}`);
  if (bytes.length < end + 4 + length) return null;
  return {
    status,
    contentType: header('content-type'),
    body: bytes.subarray(end + 4, end + 4 + length).toString('utf8'),
    length: end + 4 + length,
  };
}

/** undici's `fetch failed` names its reason in the cause chain (EPIPE, ECONNRESET, UND_ERR_SOCKET). */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let cause: unknown = error; cause instanceof Error && parts.length < 4; cause = cause.cause) {
    const code = (cause as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${cause.message} (${code})` : cause.message);
  }
  return parts.join(' <- ') || String(error);
}

export type Ending = {
  /** The answer, if a whole one came. */
  answer: { status: number; body: string } | null;
  /** `clean`: the server closed after all it read; `held`: still open when the client gave up; else the error (ECONNRESET, EPIPE). */
  end: string;
  /** Milliseconds from the whole answer to that end; null without an answer. */
  endedAfterAnswerMs: number | null;
};

/**
 * A client that pays no heed to an early answer. `whole`: it writes all of a body declared
 * `declared` bytes long as fast as the server takes it. `trickle`: it writes 1 KiB every 100 ms,
 * the way a slow (or hostile) client holds a connection. It does not stop at the answer, and
 * closes nothing before the server does; after `holdMs` it gives up (the end is then `held`).
 */
export function sendRegardless(url: string, options: { declared: number; pace: 'whole' | 'trickle'; holdMs?: number }): Promise<Ending> {
  const { port, hostname, pathname } = new URL(url);
  return new Promise((resolve) => {
    // Half-open allowed: a Node socket would otherwise close as soon as the server's FIN came.
    const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    let received = Buffer.alloc(0);
    let answer: Ending['answer'] = null;
    let answeredAt = 0;
    let end = 'clean';
    let ended = false;
    const finish = (how: string) => {
      if (ended) return;
      ended = true;
      end = how;
      clearTimeout(hold);
      socket.destroy();
      resolve({ answer, end, endedAfterAnswerMs: answer ? Math.round(performance.now() - answeredAt) : null });
    };
    const hold = setTimeout(() => finish('held'), options.holdMs ?? 30_000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = answer ? null : parseAnswer(received);
      if (parsed) {
        answer = { status: parsed.status, body: parsed.body };
        answeredAt = performance.now();
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
    // The server's FIN alone is no end here: a lingering server sends it first and reads on.
    socket.on('close', () => finish('clean'));
    socket.on('connect', async () => {
      socket.write(`POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-length: ${options.declared}\r\n\r\n`);
      const piece = Buffer.alloc(options.pace === 'whole' ? CHUNK : 1024, 0x61);
      for (let wrote = 0; wrote < options.declared && !ended; wrote += piece.length) {
        const part = piece.subarray(0, Math.min(piece.length, options.declared - wrote));
        const flushed = socket.write(part);
        if (options.pace === 'trickle') await new Promise((later) => setTimeout(later, 100));
        else if (!flushed) await drainedOrClosed(socket);
      }
      // Everything sent: the client's FIN says so, and a server that read it all closes cleanly.
      if (!ended) socket.end();
    });
  });
}
