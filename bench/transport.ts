/**
 * Issue 7, item 3: `nats-vs-inprocess`, the same sequential synchronous executions of `true` with
 * the api and a worker as separate processes over a real nats-server (JetStream: the job stream,
 * the status stream, the recorder's consumer), against `npm start` (one process, the in-process
 * bus). Both run at once and are used in alternation, so they share the machine's moods.
 */
import { type ExecutionBenchOptions, startInProcess, startOverNats, withDeployment } from './deployment.ts';
import { signUp } from './faasbox-client.ts';
import { type Figure, compare, median } from './figure.ts';
import { benchImages } from './images.ts';
import { loadAverage } from './load-average.ts';
import { phaseMeansMs, requestSteps, scrapePhaseTotals } from './phases.ts';

const TRIVIAL = ['true'];

export async function benchTransport(options: ExecutionBenchOptions): Promise<Figure[]> {
  const runs = options.quick ? 5 : 30;
  const { busybox } = await benchImages();
  return withDeployment(
    () => startInProcess(options),
    (inProcess) =>
      withDeployment(
        () => startOverNats(options, { workers: 1 }),
        async (overNats) => {
          const sides = await Promise.all(
            [inProcess, overNats].map(async (deployment) => {
              const client = await signUp(deployment.url);
              const functionId = await client.createFunction({ name: 'noop', image: busybox, command: TRIVIAL });
              return { deployment, client, functionId, samples: [] as number[], correlationIds: new Set<string>() };
            }),
          );
          const [local, nats] = sides as [(typeof sides)[0], (typeof sides)[0]];
          for (let i = 0; i < (options.quick ? 1 : 3); i++) {
            for (const side of sides) await side.client.execute(side.functionId);
          }
          const before = await Promise.all(sides.map((side) => scrapePhaseTotals(side.deployment.url)));
          for (let i = 0; i < runs; i++) {
            // Alternating which goes first, so neither always follows the other's container.
            for (const side of i % 2 === 0 ? [local, nats] : [nats, local]) {
              const correlationId = `bench-transport-${i}-${Date.now()}`;
              side.correlationIds.add(correlationId);
              side.samples.push((await side.client.execute(side.functionId, correlationId)).ms);
            }
          }
          const breakdown = await Promise.all(
            sides.map(async (side, index) => {
              const phases = phaseMeansMs(before[index]!, await scrapePhaseTotals(side.deployment.url));
              const steps = requestSteps(side.deployment.lines(), side.correlationIds);
              return { medianMs: round(median(side.samples)), queueWaitMs: phases.queue_wait, acceptMs: steps.acceptMs, recordingMs: steps.recordingMs };
            }),
          );
          return [
            compare('nats-vs-inprocess', 'ms', nats.samples, { name: 'in-process bus', samples: local.samples }, {
              what: 'sequential synchronous executions of `true`: api and worker apart over nats-server (JetStream), against role all on the in-process bus',
              runs,
              overheadMs: round(median(nats.samples) - median(local.samples)),
              overNats: breakdown[1],
              inProcess: breakdown[0],
              loadAverage: loadAverage(),
            }),
          ];
        },
      ),
  );
}

const round = (value: number) => Math.round(value * 10) / 10;
