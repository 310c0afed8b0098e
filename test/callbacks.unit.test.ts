import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type CallbackEvent,
  type CallbackPolicy,
  DEFAULT_CALLBACK_POLICY,
  callbackDecider,
  checkCallbackUrl,
  normalizeCallbackHost,
} from '../src/domain/callbacks.ts';
import { fold } from '../src/domain/decider.ts';
import { specFor } from './support/decider-spec.ts';

const now = new Date('2026-01-01T10:00:00.000Z');
const at = (ms: number) => new Date(now.getTime() + ms);
const iso = (ms: number) => at(ms).toISOString();
const policy: CallbackPolicy = { baseDelayMs: 1_000, maxAttempts: 4, maxSpanMs: 60_000, leaseMs: 30_000 };

const started = (attempt: number, ms: number): CallbackEvent => ({
  type: 'CallbackAttemptStarted',
  data: { attempt, at: iso(ms), leaseUntil: iso(ms + policy.leaseMs) },
});
const failed = (attempt: number, ms: number, nextMs: number | null, status: number | null = 500, error: string | null = null): CallbackEvent => ({
  type: 'CallbackAttemptFailed',
  data: { attempt, at: iso(ms), status, error, nextAttemptAt: nextMs === null ? null : iso(nextMs) },
});

const decider = suite('callbacks decider');
const callback = specFor(callbackDecider);

decider('given nothing, StartAttempt claims attempt 1 with a lease', () => {
  callback([]).when({ type: 'StartAttempt', now, policy }).then([started(1, 0)]);
});

decider('an attempt in flight within its lease: nobody else claims one', () => {
  callback([started(1, 0)]).when({ type: 'StartAttempt', now: at(29_999), policy }).then([]);
});

decider('an attempt whose lease passed with no result counts as failed, and the next waits its backoff', () => {
  callback([started(1, 0)])
    .when({ type: 'StartAttempt', now: at(30_000), policy })
    .then([failed(1, 0, 31_000, null, 'no result was recorded before its lease ended (its sender stopped)')]);
});

decider('any 2xx delivers; the attempt keeps the time it was made', () => {
  for (const status of [200, 202, 204, 299]) {
    callback([started(1, 0)])
      .when({ type: 'RecordAttempt', attempt: 1, status, error: null, now: at(120), policy })
      .then([{ type: 'CallbackDelivered', data: { attempt: 1, at: iso(0), status } }]);
  }
});

decider('a non-2xx answer, a redirect or no answer fails; the next attempt is a base delay after the answer', () => {
  callback([started(1, 0)])
    .when({ type: 'RecordAttempt', attempt: 1, status: 500, error: null, now: at(100), policy })
    .then([failed(1, 0, 1_100)]);
  callback([started(1, 0)])
    .when({ type: 'RecordAttempt', attempt: 1, status: 302, error: 'redirected: redirects are not followed', now: at(100), policy })
    .then([failed(1, 0, 1_100, 302, 'redirected: redirects are not followed')]);
  callback([started(1, 0)])
    .when({ type: 'RecordAttempt', attempt: 1, status: null, error: 'no answer within 5 s', now: at(5_000), policy })
    .then([failed(1, 0, 6_000, null, 'no answer within 5 s')]);
});

decider('a result for an attempt another sender already recorded as lost changes nothing', () => {
  const lost = failed(1, 0, 31_000, null, 'lost');
  callback([started(1, 0), lost]).when({ type: 'RecordAttempt', attempt: 1, status: 200, error: null, now: at(30_001), policy }).then([]);
  callback([]).when({ type: 'RecordAttempt', attempt: 1, status: 200, error: null, now, policy }).then([]);
});

decider('after a failure, the next attempt waits for its time, then is claimed', () => {
  const given = [started(1, 0), failed(1, 0, 1_100)];
  callback(given).when({ type: 'StartAttempt', now: at(1_099), policy }).then([]);
  callback(given).when({ type: 'StartAttempt', now: at(1_100), policy }).then([started(2, 1_100)]);
});

decider('the backoff doubles; the last allowed attempt that fails abandons the callback', () => {
  let events: CallbackEvent[] = [];
  let clock = 0;
  const delays: number[] = [];
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    events = [...events, ...callbackDecider.decide({ type: 'StartAttempt', now: at(clock), policy }, fold(callbackDecider, events))];
    const outcome = callbackDecider.decide({ type: 'RecordAttempt', attempt, status: 503, error: null, now: at(clock), policy }, fold(callbackDecider, events));
    events = [...events, ...outcome];
    const next = outcome[0]?.type === 'CallbackAttemptFailed' ? outcome[0].data.nextAttemptAt : null;
    if (next !== null) {
      delays.push(Date.parse(next) - at(clock).getTime());
      clock = Date.parse(next) - now.getTime();
    }
  }
  assert.equal(delays, [1_000, 2_000, 4_000]);
  assert.equal(events.at(-1), { type: 'CallbackAbandoned', data: { at: iso(clock), attempts: 4, reason: 'no 2xx answer in 4 attempts' } });
  const state = fold(callbackDecider, events);
  assert.is(state.state, 'abandoned');
  assert.equal(state.deliveries.map((delivery) => [delivery.attempt, delivery.status]), [[1, 503], [2, 503], [3, 503], [4, 503]]);
  callback(events).when({ type: 'StartAttempt', now: at(clock + 3_600_000), policy }).then([]);
});

decider('no attempt is planned past the span from the first one: the failure before it abandons', () => {
  const slow: CallbackPolicy = { ...policy, maxAttempts: 8, baseDelayMs: 20_000 };
  // Attempt 2 failed at 25 s: the third would be at 25 s + 40 s, past the 60 s span.
  callback([started(1, 0), failed(1, 0, 20_000), { type: 'CallbackAttemptStarted', data: { attempt: 2, at: iso(20_000), leaseUntil: iso(50_000) } }])
    .when({ type: 'RecordAttempt', attempt: 2, status: 500, error: null, now: at(25_000), policy: slow })
    .then([
      { type: 'CallbackAttemptFailed', data: { attempt: 2, at: iso(20_000), status: 500, error: null, nextAttemptAt: null } },
      { type: 'CallbackAbandoned', data: { at: iso(25_000), attempts: 2, reason: 'no 2xx answer in 2 attempts' } },
    ]);
});

decider('a delivered callback is never sent again, nor abandoned', () => {
  const delivered: CallbackEvent = { type: 'CallbackDelivered', data: { attempt: 1, at: iso(0), status: 200 } };
  callback([started(1, 0), delivered]).when({ type: 'StartAttempt', now: at(3_600_000), policy }).then([]);
  callback([started(1, 0), delivered]).when({ type: 'AbandonCallback', now, reason: 'x' }).then([]);
});

decider('AbandonCallback ends a pending callback with its reason', () => {
  callback([started(1, 0), failed(1, 0, 1_000)])
    .when({ type: 'AbandonCallback', now: at(500), reason: 'not sent: the host is no longer allowed' })
    .then([{ type: 'CallbackAbandoned', data: { at: iso(500), attempts: 1, reason: 'not sent: the host is no longer allowed' } }]);
});

decider('the default policy: eight attempts, 1 s doubling, within ten minutes', () => {
  assert.is(DEFAULT_CALLBACK_POLICY.maxAttempts, 8);
  assert.is(DEFAULT_CALLBACK_POLICY.baseDelayMs, 1_000);
  assert.is(DEFAULT_CALLBACK_POLICY.maxSpanMs, 600_000);
});

decider.run();

const urls = suite('callback URLs and allowed hosts');

urls('hosts are normalized as a URL has them; anything else is refused', () => {
  assert.is(normalizeCallbackHost('Hooks.Example.COM'), 'hooks.example.com');
  assert.is(normalizeCallbackHost('127.0.0.1:8080'), '127.0.0.1:8080');
  assert.is(normalizeCallbackHost('[::1]:9000'), '[::1]:9000');
  assert.is(normalizeCallbackHost('[::1]'), '[::1]');
  for (const bad of ['', 'http://x', 'x/y', 'a:b', 'x:0', 'x:70000', '::1', 'user@x', '[zz]']) assert.is(normalizeCallbackHost(bad), null, bad);
});

urls('a callback is an http(s) URL with no credentials to an allowed host; a bare host allows its default port only', () => {
  const allowed = new Set(['hooks.example.com', '127.0.0.1:8080', '[::1]:9000']);
  assert.equal(checkCallbackUrl('https://hooks.example.com/in?x=1#frag', allowed), { ok: true, url: 'https://hooks.example.com/in?x=1' });
  assert.equal(checkCallbackUrl('http://HOOKS.example.com:80/', allowed), { ok: true, url: 'http://hooks.example.com/' });
  assert.equal(checkCallbackUrl('http://127.0.0.1:8080/cb', allowed), { ok: true, url: 'http://127.0.0.1:8080/cb' });
  assert.equal(checkCallbackUrl('http://[::1]:9000/', allowed), { ok: true, url: 'http://[::1]:9000/' });
  const refused = (url: string, reason: RegExp) => {
    const check = checkCallbackUrl(url, allowed);
    assert.ok(!check.ok && reason.test(check.reason), `${url}: ${JSON.stringify(check)}`);
    // Never the URL itself: its query may hold the receiver's secret.
    assert.ok(!check.ok && !check.reason.includes('secret'), url);
  };
  refused('https://hooks.example.com:8443/?token=secret', /host hooks\.example\.com:8443 is not allowed/);
  refused('http://127.0.0.1:8081/?token=secret', /not allowed/);
  refused('http://127.0.0.1/?token=secret', /not allowed/);
  refused('ftp://hooks.example.com/?token=secret', /http/);
  refused('/relative?token=secret', /http/);
  refused('https://me:secret@hooks.example.com/', /user name or password/);
  refused(`https://hooks.example.com/${'a'.repeat(2048)}`, /at most 2048/);
  const disabled = checkCallbackUrl('https://hooks.example.com/', new Set());
  assert.ok(!disabled.ok && /not enabled/.test(disabled.reason));
});

urls.run();
