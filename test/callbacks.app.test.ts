/**
 * Callbacks of asynchronous executions (`?wait=false&callback=<url>`), in process over a
 * scripted runtime, delivered to a real HTTP receiver on loopback that checks the signature with
 * node:crypto on its own: the record once the execution ended for good, signed, retried with
 * backoff, never redirected, abandoned at last, each attempt sent once however many apis try.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { type IncomingHttpHeaders, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config } from '../src/config-type.ts';
import { startCallbackSender } from '../src/processes/callback-sender.ts';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { assertProblem } from './support/http-client.ts';
import { IMAGE, type InProcessApp, type InProcessAppOptions, JWT_SECRET, withApp } from './support/in-process-app.ts';

type Received = { path: string; headers: IncomingHttpHeaders; body: string };
type Answer = { status: number; headers?: Record<string, string> };

/** An HTTP server on 127.0.0.1 that records every request and answers as `answer` says. */
async function startReceiver(answer: (request: Received, nth: number) => Answer = () => ({ status: 200 })) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      const nth = received.filter((each) => each.headers['faasbox-delivery'] === request.headers['faasbox-delivery']).length;
      const { status, headers = {} } = answer(request, nth);
      res.writeHead(status, headers).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    host: `127.0.0.1:${port}`,
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    received,
    of: (executionId: string) => received.filter((request) => request.headers['faasbox-delivery'] === executionId),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** The receiver's own check, as a user would write it: HMAC-SHA256 over `<t>.<body>`, constant time. */
function verifySignature(request: Received, base64urlKey: string): number {
  const header = String(request.headers['faasbox-signature'] ?? '');
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  assert.ok(match, `signature header: ${header}`);
  const [, t, v1] = match;
  const expected = createHmac('sha256', Buffer.from(base64urlKey, 'base64url')).update(`${t}.${request.body}`).digest();
  assert.ok(timingSafeEqual(expected, Buffer.from(v1!, 'hex')), 'the signature verifies');
  return Number(t);
}

const allowing = (receiver: Receiver, more: Partial<InProcessAppOptions> = {}): InProcessAppOptions => ({
  config: (config: Config & { jwtSecret: string }) => ({
    ...config,
    callbacks: { allowedHosts: new Set([receiver.host]) },
    executions: { ...config.executions, maxActivePerUser: 16 },
  }),
  callbacks: { intervalMs: 20 },
  ...more,
});

type Caller = SignedUp & { functionId: string };

async function callerWithFunction(app: InProcessApp, input: Record<string, unknown> = {}): Promise<Caller> {
  const user = await signUp(app.request);
  const fn = await createFunction(app.request, user.token, { image: IMAGE, ...input });
  return { ...user, functionId: fn.id };
}

const submit = (app: InProcessApp, caller: Caller, query: string, body = 'hello') =>
  app.request('POST', `/v1/functions/${caller.functionId}/executions?${query}`, { token: caller.token, body });

const submitWithCallback = async (app: InProcessApp, caller: Caller, url: string, body = 'hello') => {
  const reply = await submit(app, caller, `wait=false&callback=${encodeURIComponent(url)}`, body);
  assert.is(reply.status, 202, JSON.stringify(reply.body));
  return reply.body.executionId as string;
};

const recordOf = async (app: InProcessApp, caller: Caller, executionId: string) => {
  const reply = await app.request('GET', `/v1/executions/${executionId}`, { token: caller.token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body;
};

/** The record once its callback has `n` deliveries recorded. */
const withDeliveries = (app: InProcessApp, caller: Caller, executionId: string, n: number) =>
  eventually(`${n} deliveries of ${executionId}`, 10_000, async () => {
    const record = await recordOf(app, caller, executionId);
    return record.callback?.deliveries.length >= n ? record : undefined;
  }, 20);

const signingKey = async (app: InProcessApp, caller: Caller) => {
  const reply = await app.request('GET', '/v1/callbacks/signing-key', { token: caller.token });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body as { key: string; algorithm: string; header: string };
};

const callbacks = suite('callbacks [app in process]');

callbacks('the final record, signed, once the execution ended; the record lists the delivery', async () => {
  const receiver = await startReceiver();
  try {
    await withApp(allowing(receiver), async (app) => {
      const caller = await callerWithFunction(app);
      const executionId = await submitWithCallback(app, caller, receiver.url('/hook?order=42'), 'ping');
      const record = await withDeliveries(app, caller, executionId, 1);
      assert.equal(record.callback, {
        url: receiver.url('/hook?order=42'),
        state: 'delivered',
        deliveries: [{ attempt: 1, at: record.callback.deliveries[0].at, status: 200, error: null }],
      });
      assert.is(receiver.received.length, 1);
      const [request] = receiver.received;
      assert.is(request!.path, '/hook?order=42');
      assert.is(request!.headers['content-type'], 'application/json');
      assert.is(request!.headers['user-agent'], 'faasbox-callbacks');
      assert.is(request!.headers['faasbox-delivery'], executionId);
      const t = verifySignature(request!, (await signingKey(app, caller)).key);
      assert.is(t, Math.floor(Date.parse(record.callback.deliveries[0].at) / 1000));
      // The body is the record as GET answers it, without the callback's own deliveries.
      const { callback: _, ...withoutCallback } = record;
      assert.equal(JSON.parse(request!.body), withoutCallback);
      assert.is(withoutCallback.status, 'succeeded');
      assert.is(withoutCallback.stdout, 'ping');
      // Never the key or the signature in a log line.
      const logged = JSON.stringify(app.logs);
      assert.not.ok(logged.includes(String(request!.headers['faasbox-signature'])), 'no signature in the logs');
      assert.not.ok(logged.includes((await signingKey(app, caller)).key), 'no key in the logs');
      assert.not.ok(logged.includes('order=42'), 'no callback URL in the logs');
    });
  } finally {
    await receiver.close();
  }
});

callbacks("a deleted user's pending callback is abandoned, never sent again", async () => {
  const receiver = await startReceiver(() => ({ status: 500 }));
  try {
    await withApp(allowing(receiver), async (app) => {
      const caller = await callerWithFunction(app);
      const executionId = await submitWithCallback(app, caller, receiver.url(), 'personal');
      await withDeliveries(app, caller, executionId, 1);
      assert.is((await app.request('DELETE', '/v1/users/me', { token: caller.token })).status, 200);
      app.clock.advance(60_000);
      const abandoned = await eventually('the callback abandoned', 10_000, async () => {
        const events = await app.events(`callback-${executionId}`);
        return events.find((event) => event.type === 'CallbackAbandoned');
      }, 20);
      assert.equal((abandoned.data as { reason: string }).reason, 'not sent: its owner was deleted');
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.is(receiver.received.length, 1, 'no attempt after the deletion');
      const metrics = (await app.request('GET', '/metrics')).body as string;
      assert.match(metrics, /^faasbox_callbacks_total\{outcome="failed"\} 1$/m);
      assert.match(metrics, /^faasbox_callbacks_total\{outcome="abandoned"\} 1$/m);
      assert.match(metrics, /^faasbox_callbacks_total\{outcome="delivered"\} 0$/m);
    });
  } finally {
    await receiver.close();
  }
});

callbacks('a receiver that fails twice: retried after 1 s, then 2 s, and delivered at the third attempt', async () => {
  const receiver = await startReceiver((_, nth) => ({ status: nth === 1 ? 500 : nth === 2 ? 503 : 204 }));
  try {
    await withApp(allowing(receiver), async (app) => {
      const caller = await callerWithFunction(app);
      const executionId = await submitWithCallback(app, caller, receiver.url());
      const first = await withDeliveries(app, caller, executionId, 1);
      assert.equal(first.callback.state, 'pending');
      // Not before its time: the clock stands still, and nothing more is sent.
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.is(receiver.received.length, 1);
      app.clock.advance(1_000);
      await withDeliveries(app, caller, executionId, 2);
      app.clock.advance(1_999);
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.is(receiver.received.length, 2, 'the second wait is 2 s');
      app.clock.advance(1);
      const record = await withDeliveries(app, caller, executionId, 3);
      assert.is(record.callback.state, 'delivered');
      assert.equal(
        record.callback.deliveries.map((delivery: { attempt: number; status: number; error: string | null }) => [delivery.attempt, delivery.status, delivery.error]),
        [[1, 500, null], [2, 503, null], [3, 204, null]],
      );
      const { key } = await signingKey(app, caller);
      const times = receiver.received.map((request) => verifySignature(request, key));
      assert.ok(times[0]! < times[1]! && times[1]! < times[2]!, `each attempt signs its own time: ${times}`);
      // The same body every time: the record does not change between attempts.
      assert.is(new Set(receiver.received.map((request) => request.body)).size, 1);
    });
  } finally {
    await receiver.close();
  }
});

callbacks('a redirect is not followed: the attempt failed, with its status', async () => {
  const receiver = await startReceiver((request) =>
    request.path === '/hook' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 200 },
  );
  try {
    await withApp(allowing(receiver), async (app) => {
      const caller = await callerWithFunction(app);
      const executionId = await submitWithCallback(app, caller, receiver.url());
      const record = await withDeliveries(app, caller, executionId, 1);
      assert.equal(record.callback.state, 'pending');
      assert.equal(record.callback.deliveries.map((delivery: { status: number; error: string }) => [delivery.status, delivery.error]), [
        [302, 'redirected: redirects are not followed'],
      ]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(receiver.received.map((request) => request.path), ['/hook']);
    });
  } finally {
    await receiver.close();
  }
});

callbacks('refused with 400: a host not allowed, callbacks not enabled, a waiting request, not http(s), credentials in the URL', async () => {
  const receiver = await startReceiver();
  try {
    await withApp(allowing(receiver), async (app) => {
      const caller = await callerWithFunction(app);
      const refused = async (query: string, detail: RegExp) => {
        const reply = await submit(app, caller, query);
        assertProblem(reply, 400);
        assert.match(reply.body.detail, detail);
        assert.not.match(reply.body.detail, /secret/);
      };
      const encoded = (url: string) => encodeURIComponent(url);
      await refused(`wait=false&callback=${encoded('http://127.0.0.1:1/hook?token=secret')}`, /callback: the host 127\.0\.0\.1:1 is not allowed for callbacks/);
      await refused(`wait=false&callback=${encoded('http://localhost:' + receiver.port + '/?token=secret')}`, /is not allowed/);
      await refused(`callback=${encoded(receiver.url())}`, /callback: needs wait=false/);
      await refused(`wait=true&callback=${encoded(receiver.url())}`, /needs wait=false/);
      await refused(`wait=false&callback=${encoded('file:///etc/passwd')}`, /http:\/\/ or https:\/\//);
      await refused(`wait=false&callback=${encoded(`http://me:secret@${receiver.host}/`)}`, /user name or password/);
      await refused('wait=false&callback=not-a-url', /http:\/\/ or https:\/\//);
      assert.is(app.runtime.runs.length, 0, 'nothing ran');
    });
    await withApp({}, async (app) => {
      const caller = await callerWithFunction(app);
      const reply = await submit(app, caller, `wait=false&callback=${encodeURIComponent(receiver.url())}`);
      assertProblem(reply, 400);
      assert.match(reply.body.detail, /callbacks are not enabled on this server.*FAASBOX_CALLBACK_HOSTS/);
      // Without a callback, nothing changes: the record says so.
      const plain = await submit(app, caller, 'wait=false');
      assert.is(plain.status, 202);
      const done = await eventually('the plain execution ends', 5_000, async () => {
        const record = await recordOf(app, caller, plain.body.executionId);
        return record.status === 'succeeded' ? record : undefined;
      });
      assert.is(done.callback, null);
    });
  } finally {
    await receiver.close();
  }
});

callbacks('the signing key: per user, stable, HKDF-SHA256 of the JWT secret; a token is needed', async () => {
  await withApp({}, async (app) => {
    const ada = await signUp(app.request);
    const bob = await signUp(app.request);
    const reply = await app.request('GET', '/v1/callbacks/signing-key', { token: ada.token });
    assert.is(reply.status, 200);
    assert.is(reply.headers.get('cache-control'), 'no-store');
    assert.equal(reply.body, {
      key: Buffer.from(hkdfSync('sha256', JWT_SECRET, Buffer.alloc(0), `faasbox callback signing key ${ada.id}`, 32)).toString('base64url'),
      algorithm: 'HMAC-SHA256',
      header: 'Faasbox-Signature',
    });
    assert.is(Buffer.from(reply.body.key, 'base64url').length, 32);
    assert.equal((await app.request('GET', '/v1/callbacks/signing-key', { token: ada.token })).body, reply.body);
    assert.is.not((await app.request('GET', '/v1/callbacks/signing-key', { token: bob.token })).body.key, reply.body.key);
    assertProblem(await app.request('GET', '/v1/callbacks/signing-key'), 401);
  });
});

callbacks('three senders on one store: each recorded attempt is sent once', async () => {
  // The first attempt of each execution fails, the second succeeds.
  const receiver = await startReceiver((_, nth) => ({ status: nth === 1 ? 500 : 200 }));
  try {
    await withApp(allowing(receiver), async (app) => {
      const others = [startCallbackSender(app.deps, { intervalMs: 7 }), startCallbackSender(app.deps, { intervalMs: 13 })];
      try {
        const caller = await callerWithFunction(app);
        const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => submitWithCallback(app, caller, receiver.url(), `run-${i}`)));
        for (const id of ids) await withDeliveries(app, caller, id, 1);
        app.clock.advance(1_000);
        for (const id of ids) {
          const record = await withDeliveries(app, caller, id, 2);
          assert.is(record.callback.state, 'delivered');
          assert.equal(record.callback.deliveries.map((delivery: { attempt: number }) => delivery.attempt), [1, 2]);
        }
        // Time for a stray third request, which must not come.
        await new Promise((resolve) => setTimeout(resolve, 150));
        for (const id of ids) assert.is(receiver.of(id).length, 2, `requests for ${id}`);
        assert.is(receiver.received.length, 12);
      } finally {
        for (const sender of others) await sender.stop();
      }
    });
  } finally {
    await receiver.close();
  }
});

callbacks('no 2xx at all: abandoned after the last attempt, each recorded', async () => {
  const receiver = await startReceiver(() => ({ status: 500 }));
  try {
    await withApp(allowing(receiver, { callbacks: { intervalMs: 10, policy: { baseDelayMs: 10, maxAttempts: 3 } } }), async (app) => {
      const caller = await callerWithFunction(app);
      const executionId = await submitWithCallback(app, caller, receiver.url());
      // The clock of the app suites stands still: it moves on as the backoff's time passes.
      const record = await eventually('abandoned', 10_000, async () => {
        app.clock.advance(10);
        const current = await recordOf(app, caller, executionId);
        return current.callback.state === 'abandoned' ? current : undefined;
      }, 15);
      assert.equal(record.callback.deliveries.map((delivery: { attempt: number; status: number }) => [delivery.attempt, delivery.status]), [
        [1, 500],
        [2, 500],
        [3, 500],
      ]);
      app.clock.advance(60_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.is(receiver.received.length, 3);
      assert.ok(app.logs.some((line) => line.message === 'callback abandoned' && line.fields.executionId === executionId));
    });
  } finally {
    await receiver.close();
  }
});

callbacks('an attempt that will be retried is not the end: one callback, with the last attempt’s outcome', async () => {
  const receiver = await startReceiver();
  try {
    await withApp(allowing(receiver), async (app) => {
      const caller = await callerWithFunction(app, { retry: { maxAttempts: 2, backoff: { initialMs: 0, maxMs: 0 }, onFunctionError: true } });
      app.runtime.script(IMAGE, { kind: 'exit', exitCode: 3 }, { kind: 'exit' });
      const executionId = await submitWithCallback(app, caller, receiver.url(), 'again');
      const record = await withDeliveries(app, caller, executionId, 1);
      assert.is(record.status, 'succeeded');
      assert.is(app.runtime.runs.length, 2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.is(receiver.received.length, 1);
      const body = JSON.parse(receiver.received[0]!.body);
      assert.is(body.status, 'succeeded');
      assert.is(body.attempt, 2);
    });
  } finally {
    await receiver.close();
  }
});

callbacks('an Idempotency-Key with another callback is another request (422); with the same one, a replay', async () => {
  const receiver = await startReceiver();
  try {
    await withApp(allowing(receiver), async (app) => {
      const caller = await callerWithFunction(app);
      const send = (url: string) =>
        app.request('POST', `/v1/functions/${caller.functionId}/executions?wait=false&callback=${encodeURIComponent(url)}`, {
          token: caller.token,
          body: 'same',
          headers: { 'idempotency-key': 'order-7' },
        });
      const first = await send(receiver.url('/a'));
      assert.is(first.status, 202);
      const again = await send(receiver.url('/a'));
      assert.is(again.headers.get('idempotent-replayed'), 'true');
      assert.is(again.body.executionId, first.body.executionId);
      assertProblem(await send(receiver.url('/b')), 422);
      await withDeliveries(app, caller, first.body.executionId, 1);
      assert.is(receiver.received.length, 1);
    });
  } finally {
    await receiver.close();
  }
});

callbacks.run();
