import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createLoginThrottle } from '../src/auth/login-throttle.ts';

const throttle = suite('login throttle');

throttle('five failures are allowed, the sixth blocks that account from that address', async () => {
  const limits = createLoginThrottle();
  for (let i = 0; i < 5; i++) {
    assert.is(await limits.retryAfter('a@x.io', '10.0.0.1'), 0);
    await limits.recordFailure('a@x.io', '10.0.0.1');
  }
  assert.is(await limits.retryAfter('a@x.io', '10.0.0.1'), 0);
  await limits.recordFailure('a@x.io', '10.0.0.1');
  const wait = await limits.retryAfter('a@x.io', '10.0.0.1');
  assert.ok(wait > 0 && wait <= 60, String(wait));
});

throttle('an attacker at one address does not lock the owner out at another', async () => {
  const limits = createLoginThrottle();
  for (let i = 0; i < 10; i++) await limits.recordFailure('a@x.io', 'attacker');
  assert.ok((await limits.retryAfter('a@x.io', 'attacker')) > 0);
  assert.is(await limits.retryAfter('a@x.io', 'owner'), 0);
});

throttle('a distributed attack on one account blocks it for a bounded time only', async () => {
  const limits = createLoginThrottle();
  for (let i = 0; i < 51; i++) await limits.recordFailure('a@x.io', `bot-${i}`);
  const wait = await limits.retryAfter('a@x.io', 'owner');
  assert.ok(wait > 0 && wait <= 5 * 60, String(wait));
});

throttle('one address spraying many accounts is blocked for all of them', async () => {
  const limits = createLoginThrottle();
  for (let i = 0; i < 101; i++) await limits.recordFailure(`user${i}@x.io`, 'sprayer');
  assert.ok((await limits.retryAfter('fresh@x.io', 'sprayer')) > 0);
  assert.is(await limits.retryAfter('fresh@x.io', 'elsewhere'), 0);
});

throttle('a success clears the failures of that account at that address', async () => {
  const limits = createLoginThrottle();
  for (let i = 0; i < 5; i++) await limits.recordFailure('a@x.io', 'home');
  await limits.recordSuccess('a@x.io', 'home');
  await limits.recordFailure('a@x.io', 'home');
  assert.is(await limits.retryAfter('a@x.io', 'home'), 0);
});

throttle.run();
