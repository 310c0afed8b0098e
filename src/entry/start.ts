import process from 'node:process';
// Node's timers, not the globals: Deno's global setTimeout returns a number, which has no unref().
import { setTimeout } from 'node:timers';
import { connectNatsJobBus, createInProcessJobBus, type NatsConnect } from '../adapters/job-bus/index.ts';
import { installedDocs } from '../adapters/package-files/index.ts';
import type { Config } from '../config-type.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { startApi } from '../api.ts';
import { type MasterKeyBytes, resolveMasterKeys } from './dev-master-key.ts';
import { openKeyStore } from './open-key-store.ts';
import { clientAddressBehind, overHttpsBehind } from './client-address.ts';
import type { ClientAddressOf } from '../http/env.ts';
import { describeError } from '../ports/logger.ts';
import { jsonLogger as log } from '../log.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import { type MetricsServer, startMetricsServer } from '../metrics/metrics-server.ts';
import type { JobBus } from '../ports/job-bus.ts';
import { type StartedWorker, startWorkerRole } from '../../worker/start.ts';
import { resolveJwtSecret } from './dev-secret.ts';
import { type OpenSqlite, openEventStore, openReadModelDatabase } from './open-stores.ts';

/**
 * What differs between Node, Bun and Deno. Everything else (roles, config, stores, bus, worker,
 * shutdown) is this module, the same on all three; each runtime's entry is a few lines.
 */
export type Runtime = {
  name: 'node' | 'bun' | 'deno';
  /**
   * Serves `fetch` and resolves once it listens. The runtime passes its own per-request value as
   * the second argument (Hono's `c.env`), which is where `clientAddressOf` finds the socket.
   */
  serve(fetch: FetchHandler, options: ServeOptions): Promise<HttpServer>;
  /** The runtime's SQLite driver, for the embedded event store and the read models. */
  openSqlite: OpenSqlite;
  clientAddressOf: ClientAddressOf;
  /** The runtime's nats.js transport (its connect()), for the NATS job bus. */
  connectNats: NatsConnect;
};

export type ServeOptions = {
  port: number;
  hostname: string;
  /**
   * The app refuses larger bodies with a 413 (its body limit). A server that is asked
   * `Expect: 100-continue` for a longer declared body can answer that 413 instead of a 100 (Node
   * does; Bun and Deno send their 100 before the app sees the request).
   */
  bodyLimitBytes: number;
  /** After an answer sent before the body was read: what is drained before the connection closes. */
  linger: Config['linger'];
};

export type FetchHandler = (request: Request, env: unknown) => Response | Promise<Response>;

export type HttpServer = {
  /** The port it listens on: the one the system chose when asked for 0. */
  port: number;
  /** Refuses new connections at once; resolves when the requests in flight are answered. */
  close(): Promise<void>;
};

/**
 * `all` (the default): api, projections and a worker in one process over SQLite and, without
 * FAASBOX_NATS_URL, the in-process bus. `api` and `worker` run the halves apart over NATS.
 */
type Role = 'all' | 'api' | 'worker';

/** Past the drain, how long closing may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

type Api = {
  /** Refuses new connections at once; resolves when the requests in flight are answered. */
  stopAccepting(): Promise<void>;
  /** Stops the recorder, the sweeper and the projections, and closes the store. */
  stop(): Promise<void>;
};

/** Runs the role named by the first argument (all, api or worker) until SIGTERM or SIGINT. */
export function runFaasbox(runtime: Runtime): void {
  main(runtime).catch((error: unknown) => {
    if (error instanceof ConfigError) log('error', error.message);
    else log('error', 'failed to start', describeError(error));
    process.exit(1);
  });
}

async function main(runtime: Runtime) {
  const role = parseRole(process.argv[2]);
  const config = loadConfig(process.env);
  if (role !== 'all' && config.nats === undefined) {
    throw new ConfigError(`FAASBOX_NATS_URL is required to run the ${role} on its own`);
  }
  const jwtSecret = role === 'worker' ? undefined : resolveJwtSecret(config);
  // Checked before anything is opened or started: a production api without its master key stops here.
  const masterKeys = role === 'worker' ? undefined : resolveMasterKeys(config);
  const bus: JobBus = config.nats
    ? await connectNatsJobBus({
        servers: config.nats.servers,
        auth: config.nats.auth,
        replicas: config.nats.replicas,
        name: `faasbox-${role}`,
        connect: runtime.connectNats,
      })
    : createInProcessJobBus();
  // One registry per process: in `all` the api's /metrics shows the worker's figures too.
  const metrics = createMetrics();

  let worker: StartedWorker | undefined;
  let metricsServer: MetricsServer | undefined;
  if (role !== 'api') {
    worker = startWorkerRole(config, bus, metrics, log);
    log('info', 'worker started', { workerId: worker.workerId, concurrency: config.worker.concurrency, runtime: runtime.name });
    if (role === 'worker' && config.metricsPort !== undefined) {
      metricsServer = await startMetricsServer(metrics.registry, { port: config.metricsPort, hostname: config.host });
      log('info', 'metrics listening', { url: `http://${config.host}:${metricsServer.port}/metrics` });
    }
  }
  const api = jwtSecret !== undefined && masterKeys !== undefined ? await serveApi(runtime, { ...config, jwtSecret }, masterKeys, bus, metrics) : undefined;

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'shutting down', { signal });
    const drainMs = worker ? config.worker.drainTimeoutMs : 0;
    setTimeout(() => {
      log('warn', 'shutdown took too long: exiting without waiting further', { signal });
      process.exit(0);
    }, drainMs + SHUTDOWN_GRACE_MS).unref();
    const step = async (name: string, run: () => Promise<void>) =>
      run().catch((error: unknown) => log('warn', `${name} failed`, describeError(error)));
    void (async () => {
      // The worker drains first: its last statuses must reach the recorder, which the api part
      // runs in `all`. The api refuses new requests meanwhile and answers the ones that wait.
      const answered = api ? step('closing the http server', () => api.stopAccepting()) : undefined;
      if (worker) await step('draining the worker', () => worker.stop());
      await answered;
      if (api) await step('stopping the api', () => api.stop());
      if (metricsServer) await step('closing the metrics server', () => metricsServer.close());
      await bus.close().catch(() => {});
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** The api's parts opened from the config, served over the runtime's HTTP server. */
async function serveApi(
  runtime: Runtime,
  config: Config & { jwtSecret: string },
  masterKeys: MasterKeyBytes,
  bus: JobBus,
  metrics: Metrics,
): Promise<Api> {
  const readModels = openReadModelDatabase(config, runtime.openSqlite);
  const store = await openEventStore(config, runtime.openSqlite);
  const keys = await openKeyStore(config, runtime.openSqlite, runtime.connectNats, masterKeys);
  const api = await startApi(
    config,
    { store, bus, keys, readModels: readModels.db },
    log,
    {
      docs: installedDocs(),
      clientAddressOf: clientAddressBehind(config.trustedProxies, runtime.clientAddressOf),
      overHttps: overHttpsBehind(config.trustedProxies, runtime.clientAddressOf),
      reportError: (error, correlationId) => log('error', 'request failed', { correlationId, ...describeError(error) }),
    },
    { metrics },
  );
  const inFlight = requestsInFlight(api.app.fetch);
  const server = await runtime.serve(inFlight.fetch, {
    port: config.port,
    hostname: config.host,
    bodyLimitBytes: config.bodyLimitBytes,
    linger: config.linger,
  });
  log('info', 'faasbox listening', {
    url: `http://${config.host}:${server.port}`,
    dataDir: config.dataDir,
    runtime: runtime.name,
  });
  void api.deps.projections.runner.failed.then((error) => {
    log('error', 'projections stopped', describeError(error));
    process.exit(1);
  });
  let closed: Promise<void> | undefined;
  // Not every runtime's close waits for every handler (a request waiting for its execution's
  // outcome was seen cut off at exit on Deno): the handlers are counted here too.
  const stopAccepting = () => (closed ??= server.close().then(() => inFlight.settled()));
  return {
    stopAccepting,
    async stop() {
      // Finish the requests in flight, then close the store so the last writes are on disk.
      await stopAccepting();
      await api.stop();
      await store.close();
      await keys.close();
      readModels.close();
    },
  };
}

function parseRole(arg: string | undefined): Role {
  if (arg === undefined || arg === 'all' || arg === 'api' || arg === 'worker') return arg ?? 'all';
  throw new ConfigError(`unknown role ${JSON.stringify(arg)}: use all, api or worker`);
}

/** `fetch`, counting the handlers under way; `settled()` resolves when none is. */
function requestsInFlight(fetch: FetchHandler): { fetch: FetchHandler; settled(): Promise<void> } {
  let count = 0;
  const idle: (() => void)[] = [];
  return {
    fetch: async (request, env) => {
      count++;
      try {
        return await fetch(request, env);
      } finally {
        count--;
        if (count === 0) for (const resolve of idle.splice(0)) resolve();
      }
    },
    settled: () => (count === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve))),
  };
}
