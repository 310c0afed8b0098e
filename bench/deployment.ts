/**
 * Faasbox as the execution benchmarks run it: real server processes (test/support/server-process.ts)
 * with throw-away data directories, either one process (`all`, the in-process bus) or an api and
 * workers apart over a real nats-server. Every worker gets its own id, so whatever containers it
 * leaves can be found by label and removed.
 */
import { rmSync } from 'node:fs';
import { type NatsServer, startNatsServer } from '../test/support/nats-server.ts';
import { type ServerProcess, startServer } from '../test/support/server-process.ts';
import { removeLeftovers } from './bare-docker.ts';
import type { BenchOptions } from './figure.ts';
import { profileEnv } from './profile-env.ts';

export type ExecutionBenchOptions = BenchOptions & {
  /** Profile every server process as `node --cpu-prof` would (bench/cpu-profile.mjs): a .cpuprofile each, here. */
  profileDir?: string;
};

export type Deployment = {
  /** The api. */
  url: string;
  /** Every worker id this deployment ran, for removing leftovers. */
  readonly workerIds: readonly string[];
  /** Every log line of every process of the deployment, api and workers. */
  lines(): string[];
  /** Starts one more worker process (over NATS only). */
  addWorker(env?: Record<string, string>): Promise<void>;
  /** Stops the worker started last (SIGTERM: it drains first). */
  removeWorker(): Promise<void>;
  stop(): Promise<void>;
};

const runTag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
let workerCount = 0;
const nextWorkerId = () => `bench-${runTag}-${++workerCount}`;

/** What every process of a benchmark deployment gets, before the deployment's own settings. */
const baseEnv = (options: ExecutionBenchOptions): Record<string, string> => ({ FAASBOX_BCRYPT_COST: '10', ...profileEnv(options.profileDir) });

/**
 * Starts a deployment, hands it to `use`, and whatever happens stops every process and removes
 * every container its workers left.
 */
export async function withDeployment<T>(start: () => Promise<Deployment>, use: (deployment: Deployment) => Promise<T>): Promise<T> {
  const deployment = await start();
  try {
    return await use(deployment);
  } finally {
    await deployment.stop();
    await removeLeftovers(deployment.workerIds);
  }
}

/** `npm start`: api, projections and a worker in one process over the in-process bus. */
export async function startInProcess(options: ExecutionBenchOptions, env: Record<string, string> = {}): Promise<Deployment> {
  const workerId = nextWorkerId();
  const server = await startServer({ env: { ...baseEnv(options), FAASBOX_WORKER_ID: workerId, ...env } });
  return {
    url: server.url,
    workerIds: [workerId],
    lines: () => server.output,
    addWorker: async () => {
      throw new Error('the in-process bus has one worker: the one in the api process');
    },
    removeWorker: async () => {
      throw new Error('the in-process bus has one worker: the one in the api process');
    },
    stop: () => stopServers([server]),
  };
}

/** `npm run api` and `npm run worker` (each `workers` times) over a nats-server of their own. */
export async function startOverNats(
  options: ExecutionBenchOptions,
  settings: { workers: number; apiEnv?: Record<string, string>; workerEnv?: Record<string, string> },
): Promise<Deployment> {
  const nats: NatsServer = await startNatsServer();
  const common = { ...baseEnv(options), FAASBOX_NATS_URL: nats.url };
  const workers: ServerProcess[] = [];
  const workerIds: string[] = [];
  let api: ServerProcess | undefined;
  const addWorker = async (env: Record<string, string> = {}) => {
    const workerId = nextWorkerId();
    workerIds.push(workerId);
    workers.push(await startServer({ role: 'worker', env: { ...common, FAASBOX_WORKER_ID: workerId, ...settings.workerEnv, ...env } }));
  };
  try {
    api = await startServer({ role: 'api', env: { ...common, ...settings.apiEnv } });
    for (let i = 0; i < settings.workers; i++) await addWorker();
  } catch (error) {
    await stopServers([...workers, ...(api ? [api] : [])]);
    await nats.stop();
    throw error;
  }
  const running = api;
  return {
    url: running.url,
    workerIds,
    lines: () => [running, ...workers].flatMap((server) => server.output),
    addWorker,
    async removeWorker() {
      const last = workers.pop();
      if (last) await stopServers([last]);
    },
    async stop() {
      // Workers first: their last statuses must reach the api's recorder.
      await stopServers(workers.splice(0));
      await stopServers([running]);
      await nats.stop();
    },
  };
}

/** SIGTERM (so a profile is written and workers drain); SIGKILL if that takes too long. */
async function stopServers(servers: ServerProcess[]): Promise<void> {
  await Promise.all(
    servers.map(async (server) => {
      let timer: NodeJS.Timeout | undefined;
      const tooLong = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 15_000)));
      const stopped = await Promise.race([server.stop(), tooLong]);
      clearTimeout(timer);
      if (stopped === 'late') await server.kill();
      rmSync(server.dataDir, { recursive: true, force: true });
    }),
  );
}
