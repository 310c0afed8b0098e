/**
 * Issue 17, item 4: `reuse-throughput`. Clients executing a trivial function (`true`) that asked
 * for reuse, back to back, through HTTP: at concurrency 1, 8 and 32, on the embedded default and
 * with api and worker apart over NATS. Beside it, in the same run, the cold path (the same
 * function without reuse, the pre-start pool off) at concurrency 8. A figure per deployment:
 * its executions per second at concurrency 8 over the cold path's; the notes hold every level's
 * rate, latency (p50, p95) and errors.
 */
import { type Deployment, type ExecutionBenchOptions, startInProcess, startOverNats, withDeployment } from './deployment.ts';
import { type FaasboxClient, signUp } from './faasbox-client.ts';
import { type Figure, compare, concurrentRate, median, percentile } from './figure.ts';
import { benchImages } from './images.ts';
import { loadAverage } from './load-average.ts';

const TRIVIAL = ['true'];
const REUSE_LEVELS = [1, 8, 32] as const;
/** Room for the highest level: no limit holds a level back. */
const ROOM = { FAASBOX_MAX_ACTIVE_PER_USER: '64', FAASBOX_WORKER_CONCURRENCY: String(Math.max(...REUSE_LEVELS)) };
/** Rates are sampled over windows this long: the figure is their median. */
const WINDOW_MS = 500;

type Level = { clients: number; perSecond: number[]; latenciesMs: number[]; errors: string[] };

export async function benchReuseThroughput(options: ExecutionBenchOptions): Promise<Figure[]> {
  const seconds = options.quick ? 2 : 6;
  const { busybox } = await benchImages();
  const cold = await withDeployment(
    () => startInProcess(options, { ...ROOM, FAASBOX_PRESTART: 'off' }),
    async (deployment) => {
      const { client, functionId } = await readyFunction(deployment, busybox, false);
      return closedLoop(client, functionId, 8, seconds);
    },
  );
  const deployments: [string, () => Promise<Deployment>][] = [
    ['reuse-throughput', () => startInProcess(options, ROOM)],
    ['reuse-throughput-nats', () => startOverNats(options, { workers: 1, apiEnv: ROOM, workerEnv: ROOM })],
  ];
  const figures: Figure[] = [];
  for (const [name, start] of deployments) {
    const levels = await withDeployment(start, async (deployment) => {
      const { client, functionId } = await readyFunction(deployment, busybox, true);
      const measured: Level[] = [];
      for (const clients of REUSE_LEVELS) {
        // Unmeasured first: the level's containers are made (cold) before it is timed.
        await closedLoop(client, functionId, clients, 1);
        measured.push(await closedLoop(client, functionId, clients, seconds));
      }
      return measured;
    });
    const atEight = levels.find((level) => level.clients === 8)!;
    figures.push(
      compare(name, 'executions/s', atEight.perSecond, { name: 'cold path ×8 (no reuse, no pre-start)', samples: cold.perSecond }, {
        what: `clients executing \`true\` (reuse: true) back to back through HTTP, ${name.endsWith('nats') ? 'api and one worker apart over NATS' : 'role all, in-process bus'}; worker concurrency ${ROOM.FAASBOX_WORKER_CONCURRENCY}`,
        levels: Object.fromEntries(levels.map((level) => [`concurrency${level.clients}`, summary(level)])),
        cold: summary(cold),
        windowMs: WINDOW_MS,
        loadAverage: loadAverage(),
      }),
    );
  }
  return figures;
}

async function readyFunction(deployment: Deployment, image: string, reuse: boolean): Promise<{ client: FaasboxClient; functionId: string }> {
  const client = await signUp(deployment.url);
  const functionId = await client.createFunction({ name: 'noop', image, command: TRIVIAL, ...(reuse ? { reuse: true } : {}) });
  await client.execute(functionId); // pulls the image
  return { client, functionId };
}

/** `clients` loops executing back to back for `seconds`: rates per window, latencies, errors. */
async function closedLoop(client: FaasboxClient, functionId: string, clients: number, seconds: number): Promise<Level> {
  const latenciesMs: number[] = [];
  const errors: string[] = [];
  const perSecond = await concurrentRate(seconds, clients, WINDOW_MS, async () => {
    try {
      latenciesMs.push((await client.execute(functionId)).ms);
      return true;
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
      return false;
    }
  });
  return { clients, perSecond, latenciesMs, errors };
}

const summary = (level: Level) => ({
  executionsPerSecond: round(median(level.perSecond)),
  latencyMs: { p50: round(median(level.latenciesMs)), p95: round(percentile(level.latenciesMs, 95)) },
  executions: level.latenciesMs.length,
  errors: level.errors.length,
  ...(level.errors.length > 0 ? { firstError: level.errors[0] } : {}),
});

const round = (value: number) => Math.round(value * 10) / 10;
