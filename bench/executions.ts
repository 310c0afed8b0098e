/**
 * Issue 7, items 1 and 2: what running a function through Faasbox costs over running the same
 * container straight through dockerode (bench/bare-docker.ts), both on the same engine in one
 * run, in alternation, so that both see the same machine.
 * - `cold-execution-overhead`: sequential synchronous executions of `true` (a fresh container
 *   each, the image already pulled), ms; with where the time goes (bench/phases.ts);
 * - `concurrency-1`, `-4`, `-8`: executions per second with that many clients executing back to
 *   back, against that many loops of bare runs.
 */
import { type BareRun, runBare } from './bare-docker.ts';
import { type Deployment, type ExecutionBenchOptions, startInProcess, withDeployment } from './deployment.ts';
import { type FaasboxClient, signUp } from './faasbox-client.ts';
import { type Figure, compare, median, percentile } from './figure.ts';
import { benchImages } from './images.ts';
import { loadAverage } from './load-average.ts';
import { phaseMeansMs, requestSteps, scrapePhaseTotals } from './phases.ts';

const TRIVIAL = ['true'];
export const CONCURRENCY_LEVELS = [1, 4, 8] as const;
/** Enough room that no level is held back by a limit: the per-user slots and the worker's. */
const UNLIMITED = { FAASBOX_MAX_ACTIVE_PER_USER: '64', FAASBOX_WORKER_CONCURRENCY: String(Math.max(...CONCURRENCY_LEVELS)) };

export async function benchColdExecution(options: ExecutionBenchOptions): Promise<Figure[]> {
  const runs = options.quick ? 6 : 30;
  const { busybox } = await benchImages();
  return withDeployment(
    // The cold path, every time: with the pool on, every call after the first would take a
    // pre-started container (prestarted-execution measures that path).
    () => startInProcess(options, { FAASBOX_PRESTART: 'off' }),
    async (deployment) => {
      const client = await signUp(deployment.url);
      const functionId = await client.createFunction({ name: 'noop', image: busybox, command: TRIVIAL });
      // The first run pulls; the next ones warm both paths (JIT, connections, page cache).
      for (let i = 0; i < (options.quick ? 2 : 3); i++) {
        await client.execute(functionId);
        await runBare(busybox, TRIVIAL);
      }
      const measured = await sequentialRuns(deployment, client, functionId, busybox, runs, 'cold');
      return [
        compare('cold-execution-overhead', 'ms', measured.platform, { name: 'bare dockerode', samples: measured.bare }, {
          what: 'a synchronous POST /v1/functions/:id/executions of `true` (role all, in-process bus), against create → start → wait → logs → remove with the same lock-down',
          runs,
          ...measured.breakdown,
          loadAverage: loadAverage(),
        }),
      ];
    },
  );
}

/**
 * `runs` pairs of one synchronous execution through the platform and one bare run, the order
 * swapped every pair; with the platform's side broken down by phase.
 */
async function sequentialRuns(
  deployment: Deployment,
  client: FaasboxClient,
  functionId: string,
  image: string,
  runs: number,
  tag: string,
) {
  const platform: number[] = [];
  const bare: number[] = [];
  const bareSteps: BareRun['steps'][] = [];
  const correlationIds = new Set<string>();
  const before = await scrapePhaseTotals(deployment.url);
  for (let i = 0; i < runs; i++) {
    const correlationId = `bench-${tag}-${i}-${Date.now()}`;
    correlationIds.add(correlationId);
    const viaPlatform = async () => platform.push((await client.execute(functionId, correlationId)).ms);
    const viaDocker = async () => {
      const run = await runBare(image, TRIVIAL);
      bare.push(run.ms);
      bareSteps.push(run.steps);
    };
    await inAlternation(i, viaPlatform, viaDocker);
  }
  const metricMeans = phaseMeansMs(before, await scrapePhaseTotals(deployment.url));
  const steps = requestSteps(deployment.lines(), correlationIds);
  const phases = steps.phaseMediansMs;
  return {
    platform,
    bare,
    breakdown: {
      overheadMs: round(median(platform) - median(bare)),
      // All that is not the engine's: HTTP, auth, slots, events, bus, recording, and the client.
      platformOwnWorkMs: round(median(platform) - steps.dockerMs),
      ownWorkInTheApiMs: steps.serverOwnMs,
      dockerPhasesMs: steps.dockerMs,
      phasesMs: {
        accept: steps.acceptMs,
        queueWait: phases.queueWait,
        pull: phases.pull,
        createStart: phases.createStart,
        run: phases.run,
        remove: phases.remove,
        recording: steps.recordingMs,
        client: round(median(platform) - steps.serverMs),
      },
      bareStepsMs: stepMedians(bareSteps),
      phaseMeansFromMetricsMs: metricMeans,
      how:
        'medians per execution; phases from the worker\'s `execution finished` lines (pull = the image check, createStart = create, attach, start), accept = arrival → job published, recording = final status published → answered, client = round trip − time in the api; queueWait runs from the api\'s queuedAt (before the slot is taken), so it overlaps accept. phaseMeansFromMetricsMs: the same phases from /metrics, as means',
      serverMs: steps.serverMs,
      bareMs: { median: round(median(bare)), p95: round(percentile(bare, 95)) },
    },
  };
}

export async function benchConcurrency(options: ExecutionBenchOptions): Promise<Figure[]> {
  const rounds = options.quick ? 1 : 6;
  const { busybox } = await benchImages();
  return withDeployment(
    () => startInProcess(options, UNLIMITED),
    async (deployment) => {
      const client = await signUp(deployment.url);
      const functionId = await client.createFunction({ name: 'noop', image: busybox, command: TRIVIAL });
      await client.execute(functionId);
      await runBare(busybox, TRIVIAL);
      const figures: Figure[] = [];
      for (const clients of CONCURRENCY_LEVELS) {
        // Each client runs this many back to back in a round: a round lasts a few seconds at any level.
        const perClient = Math.ceil((options.quick ? 4 : 12) / clients);
        const platform: Round[] = [];
        const bare: Round[] = [];
        const correlationIds = new Set<string>();
        const bareSteps: BareRun['steps'][] = [];
        const viaPlatform = async () =>
          platform.push(
            await concurrentRound(clients, perClient, async () => {
              const correlationId = `bench-concurrency-${clients}-${correlationIds.size}-${Date.now()}`;
              correlationIds.add(correlationId);
              return (await client.execute(functionId, correlationId)).ms;
            }),
          );
        const viaDocker = async () =>
          bare.push(
            await concurrentRound(clients, perClient, async () => {
              const run = await runBare(busybox, TRIVIAL);
              bareSteps.push(run.steps);
              return run.ms;
            }),
          );
        for (let i = 0; i < rounds; i++) {
          await inAlternation(i, viaPlatform, viaDocker);
        }
        const latencies = (side: Round[]) => {
          const all = side.flatMap((r) => r.latenciesMs);
          return { median: round(median(all)), p95: round(percentile(all, 95)) };
        };
        const steps = requestSteps(deployment.lines(), correlationIds);
        figures.push(
          compare(
            `concurrency-${clients}`,
            'executions/s',
            platform.map((r) => r.perSecond),
            { name: `bare dockerode ×${clients}`, samples: bare.map((r) => r.perSecond) },
            {
              what: `${clients} clients each running synchronous executions of \`true\` back to back (role all, worker concurrency ${UNLIMITED.FAASBOX_WORKER_CONCURRENCY}), against ${clients} loops of bare runs; one sample per round`,
              rounds,
              executionsPerRound: clients * perClient,
              latencyMs: { faasbox: latencies(platform), bare: latencies(bare) },
              // Medians per execution, as for cold-execution-overhead.
              phasesMs: { ...steps.phaseMediansMs, accept: steps.acceptMs, recording: steps.recordingMs, ownWorkInTheApi: steps.serverOwnMs },
              bareStepsMs: stepMedians(bareSteps),
              loadAverage: loadAverage(),
            },
          ),
        );
      }
      return figures;
    },
  );
}

/** The median of each step of the bare runs. */
const stepMedians = (runs: readonly BareRun['steps'][]) =>
  Object.fromEntries((Object.keys(runs[0] ?? {}) as (keyof BareRun['steps'])[]).map((step) => [step, round(median(runs.map((run) => run[step])))]));

/** Both sides, the order swapped every round, so neither always runs on the warmer machine. */
async function inAlternation(round: number, platform: () => Promise<unknown>, bare: () => Promise<unknown>) {
  for (const side of round % 2 === 0 ? [platform, bare] : [bare, platform]) await side();
}

type Round = { perSecond: number; latenciesMs: number[] };

/** `clients` loops of `perClient` runs each, all at once: runs per second over the whole round. */
async function concurrentRound(clients: number, perClient: number, run: () => Promise<number>): Promise<Round> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < perClient; i++) latenciesMs.push(await run());
    }),
  );
  return { perSecond: (clients * perClient * 1000) / (performance.now() - started), latenciesMs };
}

const round = (value: number) => Math.round(value * 10) / 10;
