/**
 * The deployment the reliability suites attack: two api processes and two workers over one
 * SQLite event store and one real nats-server, each api with its own read models, as in
 * deploy/compose.yaml. Every process is a real `src/entry/node.ts` started by startServer.
 */
import { startNatsServer, type NatsServer } from '../../support/nats-server.ts';
import { type Registry, startRegistry } from '../../support/registry.ts';
import { type ServerProcess, startServer, tempDir } from '../../support/server-process.ts';
import { type TestImages, ensureTestImages } from '../../support/test-images.ts';

export type ClusterOptions = {
  apis?: number;
  workers?: number;
  /** Extra environment for every process (FAASBOX_MAX_ACTIVE_PER_USER, FAASBOX_EXECUTION_GRACE_MS…). */
  env?: Record<string, string>;
  /** Extra environment for the workers only (FAASBOX_WORKER_CONCURRENCY, DOCKER_HOST…). */
  workerEnv?: Record<string, string>;
};

export type Cluster = {
  apis: ServerProcess[];
  workers: ServerProcess[];
  nats: NatsServer;
  registry: Registry;
  images: TestImages;
  dataDir: string;
  /** The environment every process got: start another api or worker with it. */
  env: Record<string, string>;
  /** Starts one more api (own read models) or worker (own id) on the same store and bus. */
  startApi(): Promise<ServerProcess>;
  startWorker(): Promise<ServerProcess>;
  /** The FAASBOX_WORKER_ID a worker of this cluster runs with. */
  workerIdOf(worker: ServerProcess): string;
  /**
   * Starts a worker that has ended (killed or stopped) again with the same FAASBOX_WORKER_ID, as
   * a supervisor restarts a crashed one: at start it reaps the containers its earlier run left.
   * The new process takes the old one's place in `workers`.
   */
  restartWorker(worker: ServerProcess): Promise<ServerProcess>;
  /** Stops every process it started (SIGTERM, SIGKILL ones already dead are skipped), nats and the registry. */
  stop(): Promise<void>;
};

export const CLUSTER_JWT_SECRET = 'reliability-secret-of-at-least-32-bytes!';

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const registry = await startRegistry();
  const images = await ensureTestImages(registry.address);
  const nats = await startNatsServer();
  const dataDir = tempDir('faasbox-reliability-');
  const env: Record<string, string> = {
    FAASBOX_NATS_URL: nats.url,
    FAASBOX_JWT_SECRET: CLUSTER_JWT_SECRET,
    FAASBOX_BCRYPT_COST: '10',
    ...options.env,
  };
  const started: ServerProcess[] = [];
  let apiCount = 0;
  let workerCount = 0;
  const startApi = async () => {
    const n = ++apiCount;
    const api = await startServer({ role: 'api', dataDir, env: { ...env, FAASBOX_PROJECTIONS_PATH: `${dataDir}/api-${n}/projections.sqlite` } });
    started.push(api);
    return api;
  };
  const workerIds = new Map<ServerProcess, string>();
  const startWorkerWithId = async (workerId: string) => {
    const worker = await startServer({ role: 'worker', dataDir, env: { ...env, FAASBOX_WORKER_ID: workerId, ...options.workerEnv } });
    started.push(worker);
    workerIds.set(worker, workerId);
    return worker;
  };
  const startWorker = () => startWorkerWithId(`reliability-${process.pid}-${++workerCount}`);
  const workerIdOf = (worker: ServerProcess) => {
    const workerId = workerIds.get(worker);
    if (workerId === undefined) throw new Error('not a worker of this cluster');
    return workerId;
  };
  const apis = await Promise.all(Array.from({ length: options.apis ?? 2 }, startApi));
  const workers = await Promise.all(Array.from({ length: options.workers ?? 2 }, startWorker));
  const restartWorker = async (worker: ServerProcess) => {
    if (worker.child.exitCode === null && worker.child.signalCode === null) throw new Error('the worker is still running');
    const restarted = await startWorkerWithId(workerIdOf(worker));
    const index = workers.indexOf(worker);
    if (index >= 0) workers[index] = restarted;
    return restarted;
  };
  return {
    apis,
    workers,
    nats,
    registry,
    images,
    dataDir,
    env,
    startApi,
    startWorker,
    workerIdOf,
    restartWorker,
    async stop() {
      await Promise.all(started.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.stop()));
      await nats.stop();
      await registry.stop();
    },
  };
}

/** What every process of a three-node NATS cluster's deployment gets (nats-cluster, scale-out): streams on all three. */
export const replicatedEnv = (cluster: { urls: string[] }, graceMs: number) => ({
  FAASBOX_NATS_URL: cluster.urls.join(','),
  FAASBOX_NATS_REPLICAS: '3',
  FAASBOX_JWT_SECRET: CLUSTER_JWT_SECRET,
  FAASBOX_BCRYPT_COST: '10',
  FAASBOX_MAX_ACTIVE_PER_USER: '1000',
  FAASBOX_EXECUTION_GRACE_MS: String(graceMs),
});
