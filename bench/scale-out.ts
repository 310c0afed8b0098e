/**
 * Issue 7, item 6: `scale-out-2-workers`, the throughput of a sleep-bound function (`sleep 1`)
 * with two worker processes against one, each running two containers at once, behind one api
 * over NATS. A batch is submitted with `?wait=false` and read back until every execution ended;
 * its throughput is counted on the server's clock, from the first `queuedAt` to the last
 * `finishedAt`, so polling does not blur it. One-worker and two-worker batches alternate, the
 * second worker started and stopped in between. Perfect scaling is a ratio of 2.
 */
import { runBare } from './bare-docker.ts';
import { type ExecutionBenchOptions, startOverNats, withDeployment } from './deployment.ts';
import { type FaasboxClient, signUp } from './faasbox-client.ts';
import { type Figure, compare, median } from './figure.ts';
import { benchImages } from './images.ts';
import { loadAverage } from './load-average.ts';

const WORKER_CONCURRENCY = 2;
const SLEEP = ['sleep', '1'];
const POLL_MS = 200;

export async function benchScaleOut(options: ExecutionBenchOptions): Promise<Figure[]> {
  const plan = options.quick ? { rounds: 1, batch: 6 } : { rounds: 3, batch: 16 };
  const { busybox } = await benchImages();
  return withDeployment(
    () =>
      startOverNats(options, {
        workers: 1,
        apiEnv: { FAASBOX_MAX_ACTIVE_PER_USER: String(plan.batch) },
        workerEnv: { FAASBOX_WORKER_CONCURRENCY: String(WORKER_CONCURRENCY) },
      }),
    async (deployment) => {
      const client = await signUp(deployment.url);
      const functionId = await client.createFunction({ name: 'sleep', image: busybox, command: SLEEP });
      await client.execute(functionId); // the pull
      const one: Batch[] = [];
      const two: Batch[] = [];
      for (let i = 0; i < plan.rounds; i++) {
        one.push(await runBatch(client, functionId, plan.batch));
        await deployment.addWorker();
        two.push(await runBatch(client, functionId, plan.batch));
        await deployment.removeWorker();
      }
      const seconds = (batches: Batch[]) => batches.map((batch) => round(batch.seconds));
      // What the engine itself allows on this host: the same batch run straight through
      // dockerode, two and four containers at a time. Both workers share this one engine.
      const engine = options.quick
        ? undefined
        : { twoAtATime: round(await bareRate(busybox, plan.batch, WORKER_CONCURRENCY)), fourAtATime: round(await bareRate(busybox, plan.batch, 2 * WORKER_CONCURRENCY)) };
      return [
        compare(
          'scale-out-2-workers',
          'executions/s',
          two.map((batch) => batch.perSecond),
          { name: 'one worker', samples: one.map((batch) => batch.perSecond) },
          {
            what: `batches of ${plan.batch} executions of \`sleep 1\` submitted at once (wait=false), api and workers apart over NATS, ${WORKER_CONCURRENCY} containers per worker; first queuedAt to last finishedAt`,
            ideal: { oneWorker: WORKER_CONCURRENCY, twoWorkers: 2 * WORKER_CONCURRENCY, ratio: 2 },
            rounds: plan.rounds,
            batchSeconds: { oneWorker: seconds(one), twoWorkers: seconds(two) },
            medianExecutionMs: { oneWorker: median(one.flatMap((b) => b.runMs)), twoWorkers: median(two.flatMap((b) => b.runMs)) },
            loadAverage: loadAverage(),
            ...(engine ? { bareDockerodePerSecond: { ...engine, ratio: round(engine.fourAtATime / engine.twoAtATime) } } : {}),
          },
        ),
      ];
    },
  );
}

type Batch = { perSecond: number; seconds: number; runMs: number[] };

async function runBatch(client: FaasboxClient, functionId: string, size: number): Promise<Batch> {
  const ids = await Promise.all(Array.from({ length: size }, () => client.submit(functionId)));
  const ended = new Map<string, { queuedAt: number; startedAt: number; finishedAt: number }>();
  const giveUpAt = Date.now() + 120_000;
  while (ended.size < ids.length) {
    if (Date.now() > giveUpAt) throw new Error(`scale-out: ${ids.length - ended.size} executions still unfinished after 2 minutes`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    for (const id of ids.filter((id) => !ended.has(id))) {
      const execution = await client.execution(id);
      if (execution.status === 'queued' || execution.status === 'running') continue;
      if (execution.status !== 'succeeded') throw new Error(`scale-out: execution ${id} ${execution.status}: ${execution.reason}`);
      ended.set(id, {
        queuedAt: Date.parse(execution.queuedAt),
        startedAt: Date.parse(execution.startedAt!),
        finishedAt: Date.parse(execution.finishedAt!),
      });
    }
  }
  const times = [...ended.values()];
  const seconds = (Math.max(...times.map((t) => t.finishedAt)) - Math.min(...times.map((t) => t.queuedAt))) / 1000;
  return { perSecond: size / seconds, seconds, runMs: times.map((t) => t.finishedAt - t.startedAt) };
}

/** `size` bare runs of SLEEP, `atATime` at once (each loop taking the next): runs per second. */
async function bareRate(image: string, size: number, atATime: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: atATime }, async () => {
      while (next++ < size) await runBare(image, SLEEP);
    }),
  );
  return (size * 1000) / (performance.now() - started);
}

const round = (value: number) => Math.round(value * 100) / 100;
