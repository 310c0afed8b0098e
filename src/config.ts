import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import type { Config, NatsEndpoint } from './config-type.ts';
import { MASTER_KEY_BYTES } from './auth/envelope.ts';
import { normalizeCallbackHost } from './domain/callbacks.ts';
import { parseKeyText } from './lib/key-text.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const MIN_SECRET_BYTES = 32;

const MASTER_KEY_FORMAT = `must be ${MASTER_KEY_BYTES} random bytes as base64 (44 characters: openssl rand -base64 32), base64url (43) or hex (64)`;

/**
 * Measured over loopback (test/oversized-bodies.e2e.test.ts): Node's fetch, stopping at the 413
 * of a 5 to 60 MB upload, still had 4 MB in flight as a rule and 8 MB at worst, all of which the
 * server must read; with Go's 256 KiB, one request in eight was still reset (one in six by
 * fetch). 16 MiB is twice the worst.
 * 5 s is nginx's lingering_timeout; clients here stopped within 200 ms of the answer.
 */
const LINGER_BYTES = 16 * 1024 * 1024;
const LINGER_MS = 5_000;

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(fallback);

const schema = z
  .object({
    PORT: integer(8080, 0, 65535),
    NODE_ENV: z.string().optional(),
    FAASBOX_HOST: z.string().trim().min(1).default('127.0.0.1'),
    FAASBOX_DATA_DIR: z.string().trim().min(1).default('./data'),
    FAASBOX_EVENTSTORE_URL: z
      .string()
      .trim()
      .regex(/^esdb(\+discover)?:\/\/\S+$/, 'must be an EventStoreDB connection string (esdb://host:2113?tls=false)')
      .optional(),
    FAASBOX_PROJECTIONS_PATH: z.string().trim().min(1).optional(),
    FAASBOX_JWT_SECRET: z
      .string()
      .refine((secret) => new TextEncoder().encode(secret).length >= MIN_SECRET_BYTES, {
        message: `must be at least ${MIN_SECRET_BYTES} bytes`,
      })
      .optional(),
    FAASBOX_MASTER_KEY: z.string().refine((text) => parseKeyText(text, MASTER_KEY_BYTES) !== null, MASTER_KEY_FORMAT).optional(),
    FAASBOX_MASTER_KEY_PREVIOUS: z
      .string()
      .default('')
      .refine((list) => [...commaSet(list)].every((text) => parseKeyText(text, MASTER_KEY_BYTES) !== null), `each of them ${MASTER_KEY_FORMAT}`),
    FAASBOX_TOKEN_LIFETIME_SECONDS: integer(3600, 60, 30 * 24 * 3600),
    FAASBOX_BCRYPT_COST: integer(10, 10, 15),
    FAASBOX_BODY_LIMIT_BYTES: integer(1024 * 1024, 1024, 64 * 1024 * 1024),
    FAASBOX_LINGER_BYTES: integer(LINGER_BYTES, 0, 1024 * 1024 * 1024),
    FAASBOX_LINGER_MS: integer(LINGER_MS, 0, 60_000),
    FAASBOX_DEFAULT_TIMEOUT_MS: integer(30_000, 100, 24 * 3600 * 1000),
    FAASBOX_MAX_TIMEOUT_MS: integer(300_000, 100, 24 * 3600 * 1000),
    FAASBOX_DEFAULT_MEMORY_MB: integer(128, 6, 1024 * 1024),
    FAASBOX_MAX_MEMORY_MB: integer(2048, 6, 1024 * 1024),
    // Read only to be refused (see below).
    FAASBOX_OPERATORS: z.string().default(''),
    FAASBOX_ALLOWED_REGISTRIES: z.string().default(''),
    FAASBOX_CALLBACK_HOSTS: z
      .string()
      .default('')
      .refine(
        (list) => [...commaSet(list)].every((entry) => normalizeCallbackHost(entry) !== null),
        'must be comma-separated host or host:port entries (IPv6 in brackets)',
      ),
    FAASBOX_TRUSTED_PROXIES: z
      .string()
      .default('')
      .refine(compilesAsProxyList, 'must be comma-separated IP addresses, CIDR ranges, loopback, linklocal or uniquelocal'),
    FAASBOX_MAX_ACTIVE_PER_USER: integer(4, 1, 10_000),
    FAASBOX_MAX_ACTIVE: integer(0, 0, 1_000_000),
    FAASBOX_EXECUTION_GRACE_MS: integer(30_000, 1_000, 3_600_000),
    FAASBOX_NATS_URL: z
      .string()
      .trim()
      .min(1)
      .refine((value) => parseNatsUrl(value) !== null, 'must be nats:// or tls:// URLs, comma-separated, with a host')
      .optional(),
    // JetStream keeps each stream on this many servers of a cluster; above 5 only adds latency.
    FAASBOX_NATS_REPLICAS: integer(1, 1, 5),
    FAASBOX_WORKER_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, ".", "_" or "-"').optional(),
    FAASBOX_WORKER_CONCURRENCY: integer(4, 1, 256),
    FAASBOX_PULL_POLICY: z.enum(['missing', 'always']).default('missing'),
    FAASBOX_OUTPUT_LIMIT_BYTES: integer(1024 * 1024, 1024, 16 * 1024 * 1024),
    FAASBOX_ALLOW_ROOT: z.enum(['true', 'false']).default('false'),
    FAASBOX_NOFILE_SOFT: integer(1024, 16, 1_048_576),
    FAASBOX_NOFILE_HARD: integer(4096, 16, 1_048_576),
    FAASBOX_KEEP_IMAGES: z.string().default(''),
    FAASBOX_DISK_HIGH_WATER: integer(85, 1, 100),
    FAASBOX_DISK_LOW_WATER: integer(70, 0, 99),
    FAASBOX_HOUSEKEEPING_INTERVAL_MS: integer(30_000, 100, 3_600_000),
    FAASBOX_DRAIN_TIMEOUT: integer(30_000, 0, 3_600_000),
    FAASBOX_AGENT_PATH: z.string().trim().regex(/^\//, 'must be an absolute path').optional(),
    FAASBOX_PRESTART: z.enum(['on', 'off']).default('on'),
    FAASBOX_PRESTART_PER_FUNCTION: integer(4, 0, 64),
    FAASBOX_PRESTART_TOTAL: integer(16, 0, 1024),
    FAASBOX_PRESTART_IDLE_MS: integer(300_000, 1_000, 24 * 3_600_000),
    FAASBOX_PRESTART_MAX_AGE_MS: integer(600_000, 10_000, 24 * 3_600_000),
    FAASBOX_MAX_MIN_WARM: integer(2, 0, 64),
    FAASBOX_REUSE: z.enum(['on', 'off']).default('on'),
    FAASBOX_REUSE_MAX_EXECUTIONS: integer(1_000, 1, 1_000_000),
    FAASBOX_METRICS_PORT: z
      .string()
      .trim()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(0).max(65535))
      .optional(),
    DOCKER_HOST: z
      .string()
      .trim()
      .regex(/^(unix:\/\/\/.+|tcp:\/\/[^/:]+:\d+)$/, 'must be unix:///path or tcp://host:port')
      .optional(),
  })
  .superRefine((env, ctx) => {
    // It made operators of whoever registered a listed email first. Refused rather than ignored,
    // so that an upgrade neither silently keeps nor silently drops anybody's rights. Empty means
    // nobody, as the grants do until someone is granted, so it is accepted.
    if (env.FAASBOX_OPERATORS.trim() !== '') {
      ctx.addIssue({
        code: 'custom',
        path: ['FAASBOX_OPERATORS'],
        message:
          'no longer grants operator rights (anyone could register a listed email): unset it and grant each operator with `faasbox operators grant --email <email>`',
      });
    }
    if (env.FAASBOX_DEFAULT_TIMEOUT_MS > env.FAASBOX_MAX_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['FAASBOX_DEFAULT_TIMEOUT_MS'], message: 'exceeds FAASBOX_MAX_TIMEOUT_MS' });
    }
    if (env.FAASBOX_DISK_LOW_WATER >= env.FAASBOX_DISK_HIGH_WATER) {
      ctx.addIssue({ code: 'custom', path: ['FAASBOX_DISK_LOW_WATER'], message: 'must be below FAASBOX_DISK_HIGH_WATER' });
    }
    if (env.FAASBOX_NOFILE_SOFT > env.FAASBOX_NOFILE_HARD) {
      ctx.addIssue({ code: 'custom', path: ['FAASBOX_NOFILE_SOFT'], message: 'exceeds FAASBOX_NOFILE_HARD' });
    }
    if (env.FAASBOX_DEFAULT_MEMORY_MB > env.FAASBOX_MAX_MEMORY_MB) {
      ctx.addIssue({ code: 'custom', path: ['FAASBOX_DEFAULT_MEMORY_MB'], message: 'exceeds FAASBOX_MAX_MEMORY_MB' });
    }
  });

/** Throws ConfigError naming every bad variable; never echoes a value (it may be a secret). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.FAASBOX_HOST,
    production: e.NODE_ENV === 'production',
    dataDir: e.FAASBOX_DATA_DIR,
    eventStoreUrl: e.FAASBOX_EVENTSTORE_URL,
    projectionsPath: e.FAASBOX_PROJECTIONS_PATH ?? `${e.FAASBOX_DATA_DIR.replace(/\/+$/, '')}/projections.sqlite`,
    jwtSecret: e.FAASBOX_JWT_SECRET,
    masterKeys: {
      current: e.FAASBOX_MASTER_KEY === undefined ? undefined : parseKeyText(e.FAASBOX_MASTER_KEY, MASTER_KEY_BYTES)!,
      previous: [...commaSet(e.FAASBOX_MASTER_KEY_PREVIOUS)].map((text) => parseKeyText(text, MASTER_KEY_BYTES)!),
    },
    tokenLifetimeSeconds: e.FAASBOX_TOKEN_LIFETIME_SECONDS,
    bcryptCost: e.FAASBOX_BCRYPT_COST,
    bodyLimitBytes: e.FAASBOX_BODY_LIMIT_BYTES,
    linger: { maxBytes: e.FAASBOX_LINGER_BYTES, maxMs: e.FAASBOX_LINGER_MS },
    functionLimits: {
      defaultTimeoutMs: e.FAASBOX_DEFAULT_TIMEOUT_MS,
      maxTimeoutMs: e.FAASBOX_MAX_TIMEOUT_MS,
      defaultMemoryMb: e.FAASBOX_DEFAULT_MEMORY_MB,
      maxMemoryMb: e.FAASBOX_MAX_MEMORY_MB,
      maxMinWarm: e.FAASBOX_MAX_MIN_WARM,
      reuseAllowed: e.FAASBOX_REUSE === 'on',
    },
    allowedRegistries: commaSet(e.FAASBOX_ALLOWED_REGISTRIES.toLowerCase()),
    callbacks: { allowedHosts: new Set([...commaSet(e.FAASBOX_CALLBACK_HOSTS)].map((entry) => normalizeCallbackHost(entry)!)) },
    trustedProxies: [...commaSet(e.FAASBOX_TRUSTED_PROXIES)],
    executions: {
      maxActivePerUser: e.FAASBOX_MAX_ACTIVE_PER_USER,
      maxActive: e.FAASBOX_MAX_ACTIVE === 0 ? null : e.FAASBOX_MAX_ACTIVE,
      graceMs: e.FAASBOX_EXECUTION_GRACE_MS,
    },
    nats: e.FAASBOX_NATS_URL === undefined ? undefined : { ...parseNatsUrl(e.FAASBOX_NATS_URL)!, replicas: e.FAASBOX_NATS_REPLICAS },
    worker: {
      id: e.FAASBOX_WORKER_ID,
      concurrency: e.FAASBOX_WORKER_CONCURRENCY,
      pullPolicy: e.FAASBOX_PULL_POLICY,
      outputLimitBytes: e.FAASBOX_OUTPUT_LIMIT_BYTES,
      allowRoot: e.FAASBOX_ALLOW_ROOT === 'true',
      nofile: { soft: e.FAASBOX_NOFILE_SOFT, hard: e.FAASBOX_NOFILE_HARD },
      keepImages: commaSet(e.FAASBOX_KEEP_IMAGES),
      diskHighWater: e.FAASBOX_DISK_HIGH_WATER,
      diskLowWater: e.FAASBOX_DISK_LOW_WATER,
      housekeepingIntervalMs: e.FAASBOX_HOUSEKEEPING_INTERVAL_MS,
      drainTimeoutMs: e.FAASBOX_DRAIN_TIMEOUT,
      agentPath: e.FAASBOX_AGENT_PATH,
    },
    prestart: {
      enabled: e.FAASBOX_PRESTART === 'on',
      perFunction: e.FAASBOX_PRESTART_PER_FUNCTION,
      total: e.FAASBOX_PRESTART_TOTAL,
      idleMs: e.FAASBOX_PRESTART_IDLE_MS,
      maxAgeMs: e.FAASBOX_PRESTART_MAX_AGE_MS,
    },
    reuse: { enabled: e.FAASBOX_REUSE === 'on', maxExecutions: e.FAASBOX_REUSE_MAX_EXECUTIONS },
    metricsPort: e.FAASBOX_METRICS_PORT,
    docker: dockerEndpoint(e.DOCKER_HOST),
  };
}

function compilesAsProxyList(list: string): boolean {
  try {
    proxyAddr.compile([...commaSet(list)]);
    return true;
  } catch {
    return false;
  }
}

/** Null when any URL is malformed. */
function parseNatsUrl(value: string): Omit<NatsEndpoint, 'replicas'> | null {
  const servers: string[] = [];
  let auth: NatsEndpoint['auth'];
  for (const item of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      return null;
    }
    if ((url.protocol !== 'nats:' && url.protocol !== 'tls:') || url.hostname === '') return null;
    if (url.username !== '' && auth === undefined) {
      const user = decodeURIComponent(url.username);
      auth = url.password === '' ? { token: user } : { user, pass: decodeURIComponent(url.password) };
    }
    servers.push(`${url.protocol}//${url.host}`);
  }
  return servers.length === 0 ? null : { servers, auth };
}

const commaSet = (list: string) =>
  new Set(
    list
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

function dockerEndpoint(dockerHost: string | undefined): Config['docker'] {
  if (dockerHost === undefined) return undefined;
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const { hostname, port } = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return { host: hostname, port: Number(port), protocol: 'http' };
}
