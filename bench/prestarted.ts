/**
 * Issue 16, item 6: `prestarted-execution`. Sequential synchronous executions through HTTP on
 * the embedded default when a pre-started container is ready, beside, in the same run, the cold
 * path (the same deployment with FAASBOX_PRESTART=off) and the physical floor: a bare container
 * pre-started with the agent, driven straight through dockerode (go → first output, → in-band exit).
 * The wait for the pool to refill between calls is not counted: the figure is a ready call's.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { BUILT_AGENT_PATH } from '../worker/agent/binary.ts';
import { containerConfig, prepareContainer, removeContainer } from '../worker/docker/index.ts';
import { type Deployment, type ExecutionBenchOptions, startInProcess, withDeployment } from './deployment.ts';
import { signUp } from './faasbox-client.ts';
import { type Figure, compare, median, percentile } from './figure.ts';
import { benchImages } from './images.ts';
import { loadAverage } from './load-average.ts';

const COMMAND = ['true'];
/** Room for a burst of eight at once: slots per user, containers per worker, pre-started per function. */
const BURST_ENV = { FAASBOX_MAX_ACTIVE_PER_USER: '8', FAASBOX_WORKER_CONCURRENCY: '8', FAASBOX_PRESTART_PER_FUNCTION: '8' };

export async function benchPrestartedExecution(options: ExecutionBenchOptions): Promise<Figure[]> {
  const runs = options.quick ? 8 : 30;
  const { busybox } = await benchImages();
  const floor = await bareFloor(busybox, runs);
  const prestarted = await withDeployment(
    () => startInProcess(options, BURST_ENV),
    async (deployment) => {
      const client = await signUp(deployment.url);
      const functionId = await client.createFunction({ name: 'noop', image: busybox, command: COMMAND });
      await client.execute(functionId); // pulls, and gives the function its first container
      const samples: number[] = [];
      const hitsBefore = await takes(deployment);
      for (let i = 0; i < runs; i++) {
        await poolReady(deployment);
        samples.push((await client.execute(functionId)).ms);
      }
      const hits = (await takes(deployment)).hit - hitsBefore.hit;
      if (hits !== runs) throw new Error(`${runs - hits} of ${runs} executions found no pre-started container`);
      return { samples, burst: await burstOfEight(deployment, busybox) };
    },
  );
  const cold = await withDeployment(
    () => startInProcess(options, { ...BURST_ENV, FAASBOX_PRESTART: 'off' }),
    async (deployment) => {
      const client = await signUp(deployment.url);
      const functionId = await client.createFunction({ name: 'noop', image: busybox, command: COMMAND });
      await client.execute(functionId);
      const samples: number[] = [];
      for (let i = 0; i < Math.min(runs, 12); i++) samples.push((await client.execute(functionId)).ms);
      return samples;
    },
  );
  return [
    compare('prestarted-execution', 'ms', prestarted.samples, { name: 'bare pre-started container (go → in-band exit)', samples: floor.exit }, {
      what: 'a synchronous POST /v1/functions/:id/executions of `true` with a pre-started container ready (role all, in-process bus)',
      runs,
      coldMedianMs: round(median(cold)),
      coldP95Ms: round(percentile(cold, 95)),
      coldOverPrestarted: round(median(cold) / median(prestarted.samples)),
      floorFirstOutputMedianMs: round(median(floor.firstOutput)),
      floorExitMedianMs: round(median(floor.exit)),
      burstOfEight: prestarted.burst,
      loadAverage: loadAverage(),
    }),
  ];
}

const round = (value: number) => Math.round(value * 100) / 100;

/** The worker's pre-started takes so far, from its /metrics. */
async function takes(deployment: Deployment): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`${deployment.url}/metrics`)).text();
  const count = (result: string) => Number(new RegExp(`^faasbox_prestarted_takes_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: count('hit'), miss: count('miss') };
}

/** Waits (uncounted) until the worker has a container ready again, from its own /metrics. */
async function poolReady(deployment: Deployment, count = 1): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const text = await (await fetch(`${deployment.url}/metrics`)).text();
    const ready = Number(/^faasbox_prestarted_containers\{state="ready"\} (\d+)/m.exec(text)?.[1] ?? 0);
    const starting = Number(/^faasbox_prestarted_containers\{state="starting"\} (\d+)/m.exec(text)?.[1] ?? 0);
    if (ready >= count && starting === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no ${count} pre-started container(s) ready within 30 s`);
}

/** Eight at once, twice: the first burst teaches the pool the function's concurrency, the second is timed. */
async function burstOfEight(deployment: Deployment, image: string) {
  const client = await signUp(deployment.url);
  const functionId = await client.createFunction({ name: 'burst', image, command: COMMAND });
  const burst = () => Promise.all(Array.from({ length: 8 }, () => client.execute(functionId)));
  await burst();
  const refillStarted = performance.now();
  await poolReady(deployment, 8);
  const refillMs = performance.now() - refillStarted;
  const before = await takes(deployment);
  const timed = await burst();
  return {
    prestarted: (await takes(deployment)).hit - before.hit,
    of: 8,
    medianMs: round(median(timed.map(({ ms }) => ms))),
    refillOf8Ms: Math.round(refillMs),
  };
}

/** The floor: pre-started bare containers with the same lock-down and agent, driven directly. */
async function bareFloor(image: string, runs: number) {
  const docker = new Docker();
  // The floor starts from an image already on the engine, as the pool does.
  await new Promise<void>((resolve, reject) =>
    docker.pull(image, (error: Error | null, stream: NodeJS.ReadableStream) =>
      error ? reject(error) : docker.modem.followProgress(stream, (done: Error | null) => (done ? reject(done) : resolve())),
    ),
  );
  const settings = {
    workerId: `bench-floor-${randomUUID().slice(0, 8)}`,
    allowRoot: false,
    pidsLimit: 128,
    nanoCpus: 1e9,
    tmpfsSizeMb: 64,
    nofile: { soft: 1024, hard: 4096 },
    agentPath: BUILT_AGENT_PATH,
  };
  const firstOutput: number[] = [];
  const exit: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const config = containerConfig(
      { image, argv: ['echo', 'x'], env: {}, memoryMb: 128, reuse: false },
      { role: 'prestarted', functionId: 'bench', ownerId: 'bench', slotId: randomUUID() },
      settings,
    );
    const prepared = await prepareContainer(docker, config, { outputLimitBytes: 1024 * 1024, pruner: null });
    const { session } = prepared;
    const go = performance.now();
    let first = 0;
    const firstByte = new Promise<void>((resolve) => {
      const write = session.stdout.sink.write.bind(session.stdout.sink);
      session.stdout.sink.write = ((chunk: Buffer, ...rest: never[]) => {
        if (!first) first = performance.now();
        resolve();
        return write(chunk, ...rest);
      }) as typeof session.stdout.sink.write;
    });
    session.go(new Uint8Array());
    await firstByte;
    await session.ended;
    const end = performance.now();
    // The first two warm the engine's and this process's paths.
    if (i >= 2) {
      firstOutput.push(first - go);
      exit.push(end - go);
    }
    session.close();
    await removeContainer(prepared.container);
  }
  return { firstOutput, exit };
}
