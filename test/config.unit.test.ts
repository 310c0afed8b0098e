import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../src/config.ts';

const config = suite('config');

config('defaults need no variable at all', () => {
  const loaded = loadConfig({});
  assert.is(loaded.port, 8080);
  assert.is(loaded.dataDir, './data');
  assert.is(loaded.jwtSecret, undefined);
  assert.is(loaded.tokenLifetimeSeconds, 3600);
  assert.is(loaded.bcryptCost, 10);
  assert.is(loaded.bodyLimitBytes, 1024 * 1024);
  assert.equal(loaded.functionLimits, { defaultTimeoutMs: 30_000, maxTimeoutMs: 300_000, defaultMemoryMb: 128, maxMemoryMb: 2048 });
});

config('operators are a trimmed, lower-cased set', () => {
  assert.equal([...loadConfig({ FAASBOX_OPERATORS: ' Ops@Example.com, ,root@x.io' }).operators], ['ops@example.com', 'root@x.io']);
});

config('production demands a secret of at least 32 bytes and never echoes it', () => {
  assert.throws(() => loadConfig({ NODE_ENV: 'production' }), (e: Error) => e instanceof ConfigError && /FAASBOX_JWT_SECRET/.test(e.message));
  assert.throws(
    () => loadConfig({ NODE_ENV: 'production', FAASBOX_JWT_SECRET: 'short-secret' }),
    (e: Error) => /32 bytes/.test(e.message) && !e.message.includes('short-secret'),
  );
  assert.is(loadConfig({ NODE_ENV: 'production', FAASBOX_JWT_SECRET: 's'.repeat(32) }).production, true);
});

config('numbers are whole and in range; every bad variable is named', () => {
  assert.throws(
    () => loadConfig({ PORT: '80x', FAASBOX_BCRYPT_COST: '9', FAASBOX_TOKEN_LIFETIME_SECONDS: '-1' }),
    (e: Error) => ['PORT', 'FAASBOX_BCRYPT_COST', 'FAASBOX_TOKEN_LIFETIME_SECONDS'].every((name) => e.message.includes(name)),
  );
  assert.throws(() => loadConfig({ FAASBOX_DEFAULT_TIMEOUT_MS: '600000' }), /FAASBOX_DEFAULT_TIMEOUT_MS exceeds/);
  assert.is(loadConfig({ FAASBOX_BCRYPT_COST: '12' }).bcryptCost, 12);
});

config.run();
