import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startServer, tempDir } from './support/server-process.ts';
import { call, uniqueEmail } from './support/http-client.ts';

const lifecycle = suite('server lifecycle');

lifecycle('what was acknowledged survives kill -9; the generated dev secret keeps tokens valid', async () => {
  const dataDir = tempDir();
  const first = await startServer({ dataDir });
  const email = uniqueEmail('durable');
  const password = 'durable password';
  assert.is((await call(first.url, 'POST', '/v1/users', { json: { email, password } })).status, 201);
  const { token } = (await call(first.url, 'POST', '/v1/tokens', { json: { email, password } })).body;
  const created = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      // Never run; a reference that names its digest is pinned to it without asking a registry.
      call(first.url, 'POST', '/v1/functions', { token, json: { name: `f${i}`, image: `busybox@sha256:${'0'.repeat(64)}` } }),
    ),
  );
  assert.ok(created.every((reply) => reply.status === 201));
  await first.kill();

  const secretFile = join(dataDir, 'jwt-secret');
  assert.ok(existsSync(secretFile));
  assert.is(statSync(secretFile).mode & 0o777, 0o600);

  const second = await startServer({ dataDir });
  try {
    const listed = await call(second.url, 'GET', '/v1/functions', { token });
    assert.is(listed.status, 200);
    assert.equal(
      listed.body.functions.map((f: { id: string }) => f.id).sort(),
      created.map((reply) => reply.body.id).sort(),
    );
    const again = await call(second.url, 'POST', '/v1/tokens', { json: { email, password } });
    assert.is(again.body.token, token);
  } finally {
    await second.stop();
  }
});

lifecycle('production refuses to start without a JWT secret of 32 bytes, and says why', () => {
  for (const secret of [undefined, 'too-short']) {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', NODE_ENV: 'production', FAASBOX_DATA_DIR: tempDir() };
    if (secret) env.FAASBOX_JWT_SECRET = secret;
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/entry/node.ts'], { env, encoding: 'utf8', timeout: 20_000 });
    assert.is(result.status, 1);
    assert.match(result.stdout + result.stderr, /FAASBOX_JWT_SECRET/);
    if (secret) assert.not.ok((result.stdout + result.stderr).includes(secret), 'the secret was echoed');
    assert.not.ok(existsSync(join(env.FAASBOX_DATA_DIR!, 'jwt-secret')));
  }
});

lifecycle('a production api refuses to start without FAASBOX_MASTER_KEY, and makes none', () => {
  const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'production', FAASBOX_DATA_DIR: tempDir(), FAASBOX_JWT_SECRET: 'p'.repeat(40), PORT: '0' };
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/entry/node.ts'], { env, encoding: 'utf8', timeout: 20_000 });
  assert.is(result.status, 1, result.stdout + result.stderr);
  assert.match(result.stdout + result.stderr, /FAASBOX_MASTER_KEY is required when NODE_ENV=production/);
  assert.not.match(result.stdout + result.stderr, /\n\s+at /);
  assert.not.ok(existsSync(join(env.FAASBOX_DATA_DIR, 'master-key')));
  assert.not.ok(existsSync(join(env.FAASBOX_DATA_DIR, 'keys.sqlite')));
});

lifecycle('invalid settings are refused at start, each named', () => {
  const env = { PATH: process.env.PATH ?? '', PORT: 'eighty', FAASBOX_BCRYPT_COST: '4', FAASBOX_DATA_DIR: tempDir() };
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/entry/node.ts'], { env, encoding: 'utf8', timeout: 20_000 });
  assert.is(result.status, 1);
  assert.match(result.stdout, /PORT/);
  assert.match(result.stdout, /FAASBOX_BCRYPT_COST/);
  assert.not.match(result.stdout + result.stderr, /\n\s+at /);
});

lifecycle.run();
