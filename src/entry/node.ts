import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import Docker from 'dockerode';
import { openBetterSqlite3 } from '../adapters/sqlite/better-sqlite3-driver.ts';
import { createSqliteEventStore } from '../adapters/event-store/sqlite.ts';
import { createInProcessJobBus } from '../adapters/job-bus/in-process.ts';
import { connectNatsJobBus } from '../adapters/job-bus/nats.ts';
import { type Config, ConfigError, loadConfig } from '../config.ts';
import { createApp } from '../http/app.ts';
import { describeError, jsonLogger as log } from '../log.ts';
import { startPlatform } from '../platform.ts';
import type { JobBus } from '../ports/job-bus.ts';
import { createDockerRuntime } from '../../worker/docker-runtime.ts';
import { startWorker } from '../../worker/worker.ts';
import { resolveJwtSecret } from './dev-secret.ts';

/**
 * `all` (the default): api, projections and a worker in one process over SQLite and, without
 * FAASBOX_NATS_URL, the in-process bus. `api` and `worker` run the halves apart over NATS.
 */
type Role = 'all' | 'api' | 'worker';

const SHUTDOWN_GRACE_MS = 10_000;

async function main() {
  const role = parseRole(process.argv[2]);
  const config = loadConfig(process.env);
  if (role !== 'all' && config.natsUrl === undefined) {
    throw new ConfigError(`FAASBOX_NATS_URL is required to run the ${role} on its own`);
  }
  const bus: JobBus = config.natsUrl
    ? await connectNatsJobBus({ servers: config.natsUrl, name: `faasbox-${role}` })
    : createInProcessJobBus();
  const stops: (() => Promise<void>)[] = [];

  if (role !== 'api') {
    const docker = new Docker(config.docker ?? { socketPath: '/var/run/docker.sock' });
    const workerId = config.worker.id ?? hostname();
    const runtime = createDockerRuntime(docker, {
      workerId,
      pullPolicy: config.worker.pullPolicy,
      outputLimitBytes: config.worker.outputLimitBytes,
      allowRoot: config.worker.allowRoot,
    });
    const worker = startWorker(bus, runtime, log, { workerId, concurrency: config.worker.concurrency });
    log('info', 'worker started', { workerId, concurrency: config.worker.concurrency });
    stops.push(() => worker.stop());
  }
  if (role !== 'worker') stops.unshift(await startApi(config, bus));

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'shutting down', { signal });
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
    void (async () => {
      for (const stop of stops) await stop().catch((error: unknown) => log('warn', 'stop failed', describeError(error)));
      await bus.close().catch(() => {});
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function startApi(config: Config, bus: JobBus): Promise<() => Promise<void>> {
  const jwtSecret = resolveJwtSecret(config);
  mkdirSync(config.dataDir, { recursive: true });
  const store = createSqliteEventStore(openBetterSqlite3(join(config.dataDir, 'events.sqlite')));
  const platform = await startPlatform({ ...config, jwtSecret }, store, bus, log);
  const app = createApp(platform, {
    clientAddressOf: (c) => getConnInfo(c).remote.address ?? 'unknown',
    reportError: (error, correlationId) => log('error', 'request failed', { correlationId, ...describeError(error) }),
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) =>
    log('info', 'faasbox listening', { url: `http://${config.host}:${info.port}`, dataDir: config.dataDir }),
  );
  void platform.projections.runner.failed.then((error) => {
    log('error', 'projections stopped', describeError(error));
    process.exit(1);
  });
  return async () => {
    // Finish the requests in flight, then close the store so the last writes are on disk.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await platform.stop();
    await store.close();
  };
}

function parseRole(arg: string | undefined): Role {
  if (arg === undefined || arg === 'all' || arg === 'api' || arg === 'worker') return arg ?? 'all';
  throw new ConfigError(`unknown role ${JSON.stringify(arg)}: use all, api or worker`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) log('error', error.message);
  else log('error', 'failed to start', describeError(error));
  process.exit(1);
});
