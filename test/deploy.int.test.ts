/**
 * The deployment files, checked for real: Debian's docker-compose (1.29, which reads the Compose
 * spec; deploy/local/services.sh installs it) validates deploy/compose.yaml and prints it
 * normalized (anchors merged, variables interpolated), and the facts the production guide relies
 * on are asserted on that output. Also: the NATS settings that durability and 1 MiB outputs
 * need, and a configuration reference in deploy/README.md that names every variable of
 * src/config.ts, so that it cannot silently fall behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const composeFile = join(root, 'deploy/compose.yaml');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const SECRET = 'compose-test-secret-'.padEnd(48, 'x');
const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

type Service = {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | null>;
  volumes?: (string | { type?: string; source?: string; target: string })[];
  ports?: (string | { host_ip?: string; published?: string | number; target: number })[];
  group_add?: (string | number)[];
  stop_grace_period?: string;
  depends_on?: Record<string, { condition?: string }> | string[];
};
type ComposeConfig = { services: Record<string, Service>; volumes?: Record<string, unknown> };

/**
 * Runs docker-compose on deploy/compose.yaml with exactly the variables given: nothing from the
 * caller's environment and no .env file (an empty --env-file), so that the result is the same
 * on every machine.
 */
function dockerCompose(args: string[], vars: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-compose-'));
  try {
    const envFile = join(dir, 'empty.env');
    writeFileSync(envFile, '');
    const result = spawnSync('docker-compose', ['--env-file', envFile, '-f', composeFile, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...vars },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (result.error) {
      throw new Error(`docker-compose could not run (${result.error.message}): bash deploy/local/services.sh installs it`);
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let normalized: ComposeConfig | undefined;
/** `docker-compose config` with the secret set, parsed once. */
function config(): ComposeConfig {
  if (!normalized) {
    const result = dockerCompose(['config'], { FAASBOX_JWT_SECRET: SECRET, FAASBOX_MASTER_KEY: MASTER_KEY, DOCKER_GID: '4242' });
    assert.is(result.status, 0, `docker-compose config failed:\n${result.stderr}`);
    normalized = parse(result.stdout) as ComposeConfig;
  }
  return normalized;
}

const commandOf = (service: Service) => (Array.isArray(service.command) ? service.command : (service.command ?? '').split(/\s+/));
const servicesRunning = (role: string) =>
  Object.entries(config().services).filter(([, service]) => commandOf(service).at(-1) === role);
const envOf = (service: Service) => service.environment ?? {};

type Mount = { type: 'volume' | 'bind'; source: string; target: string };
function mountsOf(service: Service): Mount[] {
  const named = new Set(Object.keys(config().volumes ?? {}));
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') {
      return { type: volume.type === 'bind' ? 'bind' : 'volume', source: volume.source ?? '', target: volume.target };
    }
    const [source = '', target = ''] = volume.split(':');
    return { type: named.has(source) ? 'volume' : 'bind', source, target };
  });
}

/** Compose durations (`45s`, `1m30s`, `500ms`) in ms. */
function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001 };
  let total = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)) total += Number(value) * (units[unit!] ?? NaN);
  return total;
}

/** The data dir the image sets (deploy/Dockerfile ENV), where FAASBOX_PROJECTIONS_PATH defaults. */
function imageDataDir(): string {
  const dir = /FAASBOX_DATA_DIR=(\S+)/.exec(read('deploy/Dockerfile'))?.[1];
  assert.ok(dir, 'deploy/Dockerfile sets FAASBOX_DATA_DIR');
  return dir!;
}

const deploy = suite('deploy');

deploy('compose file is valid with FAASBOX_JWT_SECRET and FAASBOX_MASTER_KEY set', () => {
  const result = dockerCompose(['config', '-q'], { FAASBOX_JWT_SECRET: SECRET, FAASBOX_MASTER_KEY: MASTER_KEY });
  assert.is(result.status, 0, `docker-compose config -q failed:\n${result.stderr}`);
});

deploy('compose refuses to start without FAASBOX_JWT_SECRET or FAASBOX_MASTER_KEY, and says which variable', () => {
  for (const [missing, given] of [
    ['FAASBOX_JWT_SECRET', { FAASBOX_MASTER_KEY: MASTER_KEY }],
    ['FAASBOX_MASTER_KEY', { FAASBOX_JWT_SECRET: SECRET }],
  ] as const) {
    const result = dockerCompose(['config', '-q'], given);
    assert.is.not(result.status, 0, `docker-compose accepted the file without ${missing}`);
    assert.match(result.stderr, new RegExp(missing));
    assert.not.match(result.stderr, /Traceback/);
  }
});

deploy('two apis and two workers, over EventStoreDB and NATS, started once those are healthy', () => {
  const apis = servicesRunning('api').map(([name]) => name).sort();
  const workers = servicesRunning('worker').map(([name]) => name).sort();
  assert.equal(apis, ['api-1', 'api-2']);
  assert.equal(workers, ['worker-1', 'worker-2']);
  for (const [name, service] of [...servicesRunning('api'), ...servicesRunning('worker')]) {
    assert.is(envOf(service).FAASBOX_NATS_URL, 'nats://nats:4222', `${name}: FAASBOX_NATS_URL`);
    assert.is(envOf(service).NODE_ENV, 'production', `${name}: NODE_ENV`);
    const dependsOn = service.depends_on;
    assert.ok(dependsOn && !Array.isArray(dependsOn), `${name}: depends_on with conditions`);
    assert.is(dependsOn.nats?.condition, 'service_healthy', `${name}: waits for a healthy nats`);
  }
  for (const [name, service] of servicesRunning('worker')) {
    assert.is(envOf(service).FAASBOX_JWT_SECRET, undefined, `${name}: a worker signs nothing and gets no secret`);
    assert.is(envOf(service).FAASBOX_MASTER_KEY, undefined, `${name}: a worker decrypts nothing and gets no master key`);
  }
  for (const [name, service] of servicesRunning('api')) {
    assert.is(envOf(service).FAASBOX_JWT_SECRET, SECRET, `${name}: FAASBOX_JWT_SECRET`);
    assert.is(envOf(service).FAASBOX_MASTER_KEY, MASTER_KEY, `${name}: FAASBOX_MASTER_KEY`);
    assert.match(envOf(service).FAASBOX_EVENTSTORE_URL ?? '', /^esdb:\/\/eventstore:2113\b/, `${name}: FAASBOX_EVENTSTORE_URL`);
    const dependsOn = service.depends_on as Record<string, { condition?: string }>;
    assert.is(dependsOn.eventstore?.condition, 'service_healthy', `${name}: waits for a healthy eventstore`);
  }
  const eventstore = config().services.eventstore;
  assert.ok(eventstore, 'an eventstore service');
  assert.is(envOf(eventstore!).EVENTSTORE_RUN_PROJECTIONS, 'None');
  assert.ok(mountsOf(eventstore!).some((m) => m.type === 'volume' && m.target === '/var/lib/eventstore'), 'eventstore data on a named volume');
});

deploy('every worker mounts the Docker socket, has its own FAASBOX_WORKER_ID and outlives its drain', () => {
  const ids = new Set<string>();
  for (const [name, service] of servicesRunning('worker')) {
    assert.ok(
      mountsOf(service).some((m) => m.source === '/var/run/docker.sock' && m.target === '/var/run/docker.sock'),
      `${name} mounts /var/run/docker.sock`,
    );
    assert.equal((service.group_add ?? []).map(String), ['4242'], `${name}: group_add is the socket's gid (DOCKER_GID)`);
    const id = envOf(service).FAASBOX_WORKER_ID;
    assert.ok(id, `${name} sets FAASBOX_WORKER_ID`);
    assert.not.ok(ids.has(id!), `${name}: FAASBOX_WORKER_ID ${id} is used twice`);
    ids.add(id!);
    const drainMs = Number(envOf(service).FAASBOX_DRAIN_TIMEOUT ?? 30_000);
    const graceMs = durationMs(service.stop_grace_period ?? '10s');
    assert.ok(graceMs > drainMs, `${name}: stop_grace_period ${service.stop_grace_period} must exceed FAASBOX_DRAIN_TIMEOUT ${drainMs} ms`);
    assert.is(service.ports, undefined, `${name} publishes no port`);
  }
  assert.is(ids.size, 2);
});

deploy('every api keeps its read models on a volume of its own', () => {
  const volumes = new Set<string>();
  for (const [name, service] of servicesRunning('api')) {
    const env = envOf(service);
    const dataDir = env.FAASBOX_DATA_DIR ?? imageDataDir();
    const projections = env.FAASBOX_PROJECTIONS_PATH ?? posix.join(dataDir, 'projections.sqlite');
    // The deepest mount that holds the projections file.
    const mount = mountsOf(service)
      .filter((m) => projections.startsWith(`${m.target.replace(/\/$/, '')}/`))
      .sort((a, b) => b.target.length - a.target.length)[0];
    assert.ok(mount, `${name}: ${projections} is on no volume (it would be lost with the container)`);
    assert.is(mount!.type, 'volume', `${name}: ${projections} should be on a named volume, not a bind mount`);
    assert.not.ok(volumes.has(mount!.source), `${name}: volume ${mount!.source} is shared with another api`);
    volumes.add(mount!.source);
  }
  assert.is(volumes.size, 2);
});

deploy('no published port binds beyond 127.0.0.1', () => {
  let published = 0;
  for (const [name, service] of Object.entries(config().services)) {
    for (const port of service.ports ?? []) {
      published += 1;
      const hostIp = typeof port === 'string' ? (/^(.*):[\d-]+:[\d-]+(?:\/\w+)?$/.exec(port)?.[1] ?? '') : (port.host_ip ?? '');
      assert.is(hostIp, '127.0.0.1', `${name} publishes ${JSON.stringify(port)} beyond loopback`);
    }
  }
  assert.is(published, 2, 'the two apis, and nothing else, are published');
});

deploy('nats is 2.10.23 or later, with durable and large enough messages', () => {
  const image = config().services.nats?.image ?? '';
  const version = /^nats:(\d+)\.(\d+)\.(\d+)(?:-[\w.]+)?$/.exec(image);
  assert.ok(version, `nats image ${JSON.stringify(image)} should name an exact version`);
  const [major, minor, patch] = version!.slice(1).map(Number) as [number, number, number];
  const atLeast = major > 2 || (major === 2 && (minor > 10 || (minor === 10 && patch >= 23)));
  assert.ok(atLeast, `${image} is older than 2.10.23`);

  const settings = read('deploy/nats/nats.conf')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
  assert.ok(settings.includes('sync_interval: always'), 'nats.conf: sync_interval: always');
  assert.ok(settings.includes('max_payload: 8MB'), 'nats.conf: max_payload: 8MB');
  assert.ok(
    mountsOf(config().services.nats!).some((m) => m.source.endsWith('/deploy/nats/nats.conf')),
    'the nats service runs with deploy/nats/nats.conf',
  );
});

deploy('deploy/README.md documents every variable src/config.ts reads', () => {
  // The keys of the zod schema: NAME: integer(...) or NAME: z....
  const names = [...read('src/config.ts').matchAll(/^\s*([A-Z][A-Z0-9_]+)\s*:\s*(?:integer\(|z\b)/gm)].map((m) => m[1]!);
  assert.ok(names.length >= 25, `found only ${names.length} variables in src/config.ts: has the schema changed shape?`);
  assert.ok(names.includes('FAASBOX_JWT_SECRET') && names.includes('PORT'), 'the schema keys were found');
  const guide = read('deploy/README.md');
  const missing = names.filter((name) => !guide.includes(`\`${name}\``));
  assert.equal(missing, [], `deploy/README.md lacks ${missing.join(', ')}`);
  // And whatever the compose file sets.
  const composeNames = new Set(Object.values(config().services).flatMap((service) => Object.keys(envOf(service))));
  const undocumented = [...composeNames].filter((name) => name.startsWith('FAASBOX_') && !guide.includes(`\`${name}\``));
  assert.equal(undocumented, [], `deploy/README.md lacks ${undocumented.join(', ')}`);
});

deploy.run();
