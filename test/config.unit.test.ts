import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../src/config.ts';
import { resolveMasterKeys } from '../src/entry/dev-master-key.ts';
import { resolveJwtSecret } from '../src/entry/dev-secret.ts';

const config = suite('config');

config('defaults need no variable at all', () => {
  const loaded = loadConfig({});
  assert.is(loaded.port, 8080);
  assert.is(loaded.dataDir, './data');
  assert.is(loaded.jwtSecret, undefined);
  assert.is(loaded.tokenLifetimeSeconds, 3600);
  assert.is(loaded.bcryptCost, 10);
  assert.is(loaded.bodyLimitBytes, 1024 * 1024);
  assert.equal(loaded.functionLimits, { defaultTimeoutMs: 30_000, maxTimeoutMs: 300_000, defaultMemoryMb: 128, maxMemoryMb: 2048, maxMinWarm: 2, reuseAllowed: true });
});

config('FAASBOX_OPERATORS is refused, pointing at `faasbox operators grant`, without echoing the emails; empty is accepted', () => {
  assert.throws(
    () => loadConfig({ FAASBOX_OPERATORS: ' Ops@Example.com, root@x.io' }),
    (e: Error) =>
      e instanceof ConfigError &&
      /FAASBOX_OPERATORS/.test(e.message) &&
      /faasbox operators grant --email/.test(e.message) &&
      !/example\.com|x\.io/i.test(e.message),
  );
  assert.not.throws(() => loadConfig({ FAASBOX_OPERATORS: ' ' }));
});

config('a production api demands a secret of at least 32 bytes and never echoes it; a worker needs none', () => {
  const worker = loadConfig({ NODE_ENV: 'production' });
  assert.is(worker.jwtSecret, undefined);
  assert.throws(() => resolveJwtSecret(worker), (e: Error) => e instanceof ConfigError && /FAASBOX_JWT_SECRET/.test(e.message));
  assert.throws(
    () => loadConfig({ NODE_ENV: 'production', FAASBOX_JWT_SECRET: 'short-secret' }),
    (e: Error) => /32 bytes/.test(e.message) && !e.message.includes('short-secret'),
  );
  assert.is(loadConfig({ NODE_ENV: 'production', FAASBOX_JWT_SECRET: 's'.repeat(32) }).production, true);
});

config('the event store is embedded unless an EventStoreDB connection string is given; read models sit in the data dir', () => {
  const embedded = loadConfig({ FAASBOX_DATA_DIR: '/srv/faasbox/' });
  assert.is(embedded.eventStoreUrl, undefined);
  assert.is(embedded.projectionsPath, '/srv/faasbox/projections.sqlite');
  const clustered = loadConfig({ FAASBOX_EVENTSTORE_URL: 'esdb://db:2113?tls=false', FAASBOX_PROJECTIONS_PATH: '/var/lib/api-1/rm.sqlite' });
  assert.is(clustered.eventStoreUrl, 'esdb://db:2113?tls=false');
  assert.is(clustered.projectionsPath, '/var/lib/api-1/rm.sqlite');
  assert.throws(
    () => loadConfig({ FAASBOX_EVENTSTORE_URL: 'http://admin:changeit@db:2113' }),
    (e: Error) => /FAASBOX_EVENTSTORE_URL/.test(e.message) && !e.message.includes('changeit'),
  );
});

config('a NATS cluster: every server of the list, each stream on FAASBOX_NATS_REPLICAS of them (1 to 5, default 1)', () => {
  // As test/support/nats-cluster.ts gives them: what nats.js connect({ servers }) takes.
  const cluster = 'nats://127.0.0.1:4222,nats://127.0.0.1:4223, nats://127.0.0.1:4224';
  assert.equal(loadConfig({ FAASBOX_NATS_URL: cluster, FAASBOX_NATS_REPLICAS: '3' }).nats, {
    servers: ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223', 'nats://127.0.0.1:4224'],
    auth: undefined,
    replicas: 3,
  });
  assert.is(loadConfig({ FAASBOX_NATS_URL: cluster }).nats?.replicas, 1);
  assert.is(loadConfig({ FAASBOX_NATS_URL: cluster, FAASBOX_NATS_REPLICAS: ' 5 ' }).nats?.replicas, 5);
  // Without NATS there is nothing to replicate: the in-process bus, and the setting is unused.
  assert.is(loadConfig({ FAASBOX_NATS_REPLICAS: '3' }).nats, undefined);
  for (const bad of ['0', '6', '2.5', '-1', 'three', '']) {
    assert.throws(
      () => loadConfig({ FAASBOX_NATS_URL: cluster, FAASBOX_NATS_REPLICAS: bad }),
      (e: Error) => e instanceof ConfigError && /FAASBOX_NATS_REPLICAS/.test(e.message),
      JSON.stringify(bad),
    );
  }
});

config('NATS credentials are taken out of the URL and given apart; a malformed URL is named, never echoed', () => {
  assert.is(loadConfig({}).nats, undefined);
  assert.equal(loadConfig({ FAASBOX_NATS_URL: 'nats://nats:4222' }).nats, { servers: ['nats://nats:4222'], auth: undefined, replicas: 1 });
  assert.equal(loadConfig({ FAASBOX_NATS_URL: 'nats://faasbox:p%40ss%2Fword@nats-1:4222, tls://nats-2:4222' }).nats, {
    servers: ['nats://nats-1:4222', 'tls://nats-2:4222'],
    auth: { user: 'faasbox', pass: 'p@ss/word' },
    replicas: 1,
  });
  assert.equal(loadConfig({ FAASBOX_NATS_URL: 'nats://s3cr3t-token@nats:4222' }).nats?.auth, { token: 's3cr3t-token' });
  for (const bad of ['http://user:hunter2@nats:4222', 'nats://user:hunter2@', 'hunter2']) {
    assert.throws(
      () => loadConfig({ FAASBOX_NATS_URL: bad }),
      (e: Error) => /FAASBOX_NATS_URL/.test(e.message) && !e.message.includes('hunter2'),
      bad,
    );
  }
});

config('trusted proxies are addresses, CIDR ranges or named ranges; anything else is refused at start', () => {
  assert.equal(loadConfig({}).trustedProxies, []);
  assert.equal(loadConfig({ FAASBOX_TRUSTED_PROXIES: 'loopback, 10.0.0.0/8,fd00::1' }).trustedProxies, ['loopback', '10.0.0.0/8', 'fd00::1']);
  assert.throws(() => loadConfig({ FAASBOX_TRUSTED_PROXIES: 'proxy.internal' }), (e: Error) => /FAASBOX_TRUSTED_PROXIES/.test(e.message));
});

config('the lingering close after a 413 drains 16 MiB for 5 s by default; both bounds are settings, whole and in range', () => {
  assert.equal(loadConfig({}).linger, { maxBytes: 16 * 1024 * 1024, maxMs: 5_000 });
  assert.equal(loadConfig({ FAASBOX_LINGER_BYTES: '262144', FAASBOX_LINGER_MS: '500' }).linger, { maxBytes: 262_144, maxMs: 500 });
  // 0 and 0: close at once after the answer, as before the lingering close.
  assert.equal(loadConfig({ FAASBOX_LINGER_BYTES: '0', FAASBOX_LINGER_MS: '0' }).linger, { maxBytes: 0, maxMs: 0 });
  assert.throws(
    () => loadConfig({ FAASBOX_LINGER_BYTES: '16MiB', FAASBOX_LINGER_MS: '60001' }),
    (e: Error) => /FAASBOX_LINGER_BYTES must be a whole number/.test(e.message) && /FAASBOX_LINGER_MS/.test(e.message),
  );
  assert.throws(() => loadConfig({ FAASBOX_LINGER_BYTES: String(2 ** 30 + 1) }), /FAASBOX_LINGER_BYTES/);
});

config('numbers are whole and in range; every bad variable is named', () => {
  assert.throws(
    () => loadConfig({ PORT: '80x', FAASBOX_BCRYPT_COST: '9', FAASBOX_TOKEN_LIFETIME_SECONDS: '-1' }),
    (e: Error) => ['PORT', 'FAASBOX_BCRYPT_COST', 'FAASBOX_TOKEN_LIFETIME_SECONDS'].every((name) => e.message.includes(name)),
  );
  assert.throws(() => loadConfig({ FAASBOX_DEFAULT_TIMEOUT_MS: '600000' }), /FAASBOX_DEFAULT_TIMEOUT_MS exceeds/);
  assert.is(loadConfig({ FAASBOX_BCRYPT_COST: '12' }).bcryptCost, 12);
});

config('open files per container process: 1024 soft and 4096 hard unless set; soft above hard is refused', () => {
  assert.equal(loadConfig({}).worker.nofile, { soft: 1024, hard: 4096 });
  assert.equal(loadConfig({ FAASBOX_NOFILE_SOFT: '256', FAASBOX_NOFILE_HARD: '512' }).worker.nofile, { soft: 256, hard: 512 });
  assert.throws(() => loadConfig({ FAASBOX_NOFILE_SOFT: '8192' }), /FAASBOX_NOFILE_SOFT exceeds FAASBOX_NOFILE_HARD/);
});

config('callback hosts: none by default (callbacks refused); host or host:port entries, normalized; anything else is named at start', () => {
  assert.equal([...loadConfig({}).callbacks.allowedHosts], []);
  assert.equal([...loadConfig({ FAASBOX_CALLBACK_HOSTS: ' Hooks.Example.com, 127.0.0.1:8080,[::1]:9000,' }).callbacks.allowedHosts], [
    'hooks.example.com',
    '127.0.0.1:8080',
    '[::1]:9000',
  ]);
  for (const bad of ['https://hooks.example.com', 'hooks.example.com/path', 'x:99999', '::1']) {
    assert.throws(() => loadConfig({ FAASBOX_CALLBACK_HOSTS: bad }), /FAASBOX_CALLBACK_HOSTS must be comma-separated host or host:port/, bad);
  }
});

config('the master key is 32 bytes as base64, base64url or hex; anything else is named, never echoed', () => {
  const bytes = Uint8Array.from({ length: 32 }, (_, i) => 250 - i * 7);
  const forms = [
    Buffer.from(bytes).toString('base64'),
    Buffer.from(bytes).toString('base64').replace(/=$/, ''),
    Buffer.from(bytes).toString('base64url'),
    `${Buffer.from(bytes).toString('base64url')}=`,
    Buffer.from(bytes).toString('hex'),
    ` ${Buffer.from(bytes).toString('hex').toUpperCase()}\n`,
  ];
  for (const form of forms) assert.equal([...loadConfig({ FAASBOX_MASTER_KEY: form }).masterKeys.current!], [...bytes], form);
  assert.equal(loadConfig({}).masterKeys, { current: undefined, previous: [] });
  const tooShort = Buffer.from(bytes.subarray(1)).toString('base64');
  const tooLong = Buffer.from([...bytes, 1]).toString('base64');
  for (const bad of [tooShort, tooLong, Buffer.from(bytes).toString('hex').slice(2), 's3cr3t-but-not-a-key-of-32-bytes-at-all!!!', '']) {
    assert.throws(
      () => loadConfig({ FAASBOX_MASTER_KEY: bad }),
      (e: Error) =>
        e instanceof ConfigError &&
        /FAASBOX_MASTER_KEY must be 32 random bytes as base64/.test(e.message) &&
        /openssl rand -base64 32/.test(e.message) &&
        (bad === '' || !e.message.includes(bad.slice(4, 20))),
      bad,
    );
  }
});

config('FAASBOX_MASTER_KEY_PREVIOUS: older master keys, comma-separated, in the same forms; a bad one is named, never echoed', () => {
  const [a, b] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
  const loaded = loadConfig({ FAASBOX_MASTER_KEY_PREVIOUS: ` ${Buffer.from(a).toString('base64')}, ${Buffer.from(b).toString('hex')},` });
  assert.equal(loaded.masterKeys.previous.map((key) => [...key]), [[...a], [...b]]);
  const bad = Buffer.from(new Uint8Array(16).fill(7)).toString('base64');
  assert.throws(
    () => loadConfig({ FAASBOX_MASTER_KEY_PREVIOUS: `${Buffer.from(a).toString('base64')},${bad}` }),
    (e: Error) => /FAASBOX_MASTER_KEY_PREVIOUS each of them must be 32 random bytes/.test(e.message) && !e.message.includes(bad),
  );
});

config('a production api demands FAASBOX_MASTER_KEY; in development one is made once, kept in the data dir at mode 0600', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'faasbox-master-key-'));
  try {
    const production = loadConfig({ NODE_ENV: 'production', FAASBOX_DATA_DIR: dataDir });
    assert.throws(
      () => resolveMasterKeys(production),
      (e: Error) => e instanceof ConfigError && /FAASBOX_MASTER_KEY is required when NODE_ENV=production/.test(e.message),
    );
    const given = Buffer.from(new Uint8Array(32).fill(9)).toString('base64');
    const previous = Buffer.from(new Uint8Array(32).fill(8)).toString('hex');
    const configured = resolveMasterKeys(
      loadConfig({ NODE_ENV: 'production', FAASBOX_DATA_DIR: dataDir, FAASBOX_MASTER_KEY: given, FAASBOX_MASTER_KEY_PREVIOUS: previous }),
    );
    assert.equal([...configured.current], Array(32).fill(9));
    assert.equal(configured.previous.map((key) => [...key]), [Array(32).fill(8)]);

    const development = loadConfig({ FAASBOX_DATA_DIR: dataDir });
    const first = resolveMasterKeys(development).current;
    const file = join(dataDir, 'master-key');
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.equal([...Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')], [...first]);
    assert.equal([...resolveMasterKeys(development).current], [...first], 'the same key after a restart');
    assert.is.not(Buffer.from(first).toString('hex'), '00'.repeat(32));

    writeFileSync(file, 'not-a-key-hunter2\n');
    assert.throws(
      () => resolveMasterKeys(development),
      (e: Error) => e instanceof ConfigError && /does not hold a 32-byte key/.test(e.message) && !e.message.includes('hunter2'),
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

config.run();
