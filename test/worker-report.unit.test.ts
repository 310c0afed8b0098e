/**
 * A worker's reports on itself (worker/report.ts) without an engine: the pruner remembering its
 * last prunes and disk reading, the figures a Docker worker reports from them, the order of the
 * last words at a stop, and a bus that refuses reports logged once per outage.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createInProcessJobBus } from '../src/adapters/job-bus/index.ts';
import type { WorkerReport } from '../src/ports/worker-report.ts';
import { createImagePruner } from '../worker/disk/index.ts';
import { type WorkerFigures, dockerWorkerFigures, startWorkerReports } from '../worker/report.ts';

const reports = suite('worker reports');

const quiet = () => {};
const image = (id: string, size: number, created = 1) => ({ Id: id, RepoTags: [`registry.test/${id.slice(7)}:1`], RepoDigests: [], Size: size, Created: created });
const noFigures = async (): Promise<WorkerFigures> => ({ inFlight: 0, prestarted: {}, reused: {}, engineReachable: null, disk: null, lastPrunes: [] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

reports('the pruner keeps its last five prunes, newest first, "no image could be pruned" and a failed one too', async () => {
  let images = [image('sha256:aa', 1000), image('sha256:bb', 500, 2)];
  let listingFails = false;
  const engine = {
    info: async () => ({}),
    listContainers: async () => {
      if (listingFails) throw new Error('engine gone');
      return [];
    },
    listImages: async () => images,
    getImage: () => ({ remove: async () => ({}) }),
  };
  let now = 1_700_000_000_000;
  const pruner = createImagePruner(engine as never, { keepImages: new Set(), highWater: 85, lowWater: 70, log: quiet, now: () => now });
  assert.equal(pruner.recentPrunes(), []);
  await pruner.pruneUnused('pull ran out of disk space');
  images = [];
  for (let i = 0; i < 4; i++) {
    now += 1_000;
    await pruner.pruneUnused(`nothing left ${i}`);
  }
  listingFails = true;
  now += 1_000;
  await pruner.pruneUnused('create ran out of disk space');
  const recent = pruner.recentPrunes();
  assert.equal(
    recent.map(({ reason, failed, imagesRemoved }) => [reason, failed, imagesRemoved]),
    [
      ['create ran out of disk space', true, 0],
      ['nothing left 3', false, 0],
      ['nothing left 2', false, 0],
      ['nothing left 1', false, 0],
      ['nothing left 0', false, 0],
    ],
    'five, the first one pushed out',
  );
  assert.is(recent[0]!.at, now);
  // The data root is not visible here (the engine's info names none): no reading, never a guess.
  assert.is(await pruner.diskUsage(), null);
  assert.is(pruner.lastDiskReading(), null);
});

reports("a Docker worker's figures: its pools, the engine's ping, the disk's last reading and marks, its prunes", async () => {
  const functionId = crypto.randomUUID();
  const figures = dockerWorkerFigures({
    inFlight: () => 2,
    runtime: {
      poolsByFunction: () => ({ prestarted: { [functionId]: { ready: 1, starting: 1, minWarm: 2 } }, reused: {} }),
      ping: async () => {
        throw new Error('connect ENOENT /var/run/docker.sock');
      },
    },
    pruner: {
      diskUsage: async () => {
        throw new Error('engine gone');
      },
      lastDiskReading: () => ({
        usage: { path: '/var/lib/docker', totalBytes: 1000, usedBytes: 873, availableBytes: 127, bytesUsedPercent: 87.3456, inodesUsedPercent: 3, usedPercent: 87.3456 },
        at: Date.parse('2025-03-01T10:00:00.000Z'),
      }),
      recentPrunes: () => [
        { at: Date.parse('2025-03-01T10:00:01.000Z'), reason: 'disk use 87.3% above high water 85%', failed: false, imagesRemoved: 0, images: [], bytesReclaimed: 0, freedBytes: 0 },
        { at: Date.parse('2025-03-01T09:00:00.000Z'), reason: 'pull ran out of disk space', failed: false, imagesRemoved: 1, images: ['registry.test/a:1'], bytesReclaimed: 10, freedBytes: null },
        { at: Date.parse('2025-03-01T08:00:00.000Z'), reason: 'pull ran out of disk space', failed: true, imagesRemoved: 0, images: [], bytesReclaimed: 0, freedBytes: null },
      ],
    },
    water: { highWater: 85, lowWater: 70 },
  });
  assert.equal(await figures(), {
    inFlight: 2,
    prestarted: { [functionId]: { ready: 1, starting: 1, minWarm: 2 } },
    reused: {},
    engineReachable: false,
    disk: { usedPercent: 87.3, usedBytes: 873, totalBytes: 1000, measuredAt: '2025-03-01T10:00:00.000Z', highWater: 85, lowWater: 70 },
    lastPrunes: [
      { at: '2025-03-01T10:00:01.000Z', reason: 'disk use 87.3% above high water 85%', outcome: 'nothing-pruned', imagesRemoved: 0, images: [], bytesReclaimed: 0, freedBytes: 0 },
      { at: '2025-03-01T09:00:00.000Z', reason: 'pull ran out of disk space', outcome: 'pruned', imagesRemoved: 1, images: ['registry.test/a:1'], bytesReclaimed: 10, freedBytes: null },
      { at: '2025-03-01T08:00:00.000Z', reason: 'pull ran out of disk space', outcome: 'failed', imagesRemoved: 0, images: [], bytesReclaimed: 0, freedBytes: null },
    ],
  });
});

reports('a stop says stopping, then stopped, each after any report under way, and nothing after', async () => {
  const bus = createInProcessJobBus();
  const published: WorkerReport['state'][] = [];
  const recording = { ...bus, publishWorkerReport: async (report: WorkerReport) => void published.push(report.state) };
  let slow: (() => void) | undefined;
  const worker = startWorkerReports(recording, {
    workerId: 'worker-a',
    concurrency: 1,
    log: quiet,
    intervalMs: 20,
    // The first report's figures take a while: the stop's reports must come after it.
    figures: async () => {
      if (published.length === 0 && slow === undefined) await new Promise<void>((resolve) => (slow = resolve));
      return noFigures();
    },
  });
  await sleep(150);
  const stopping = worker.stopping();
  slow!();
  await stopping;
  await worker.stopped();
  await sleep(60);
  assert.equal(published, ['running', 'stopping', 'stopped']);
  await bus.close();
});

reports('a bus that refuses reports is logged once per outage, and its return once', async () => {
  const bus = createInProcessJobBus();
  const lines: string[] = [];
  let down = true;
  const flaky = {
    ...bus,
    publishWorkerReport: async (report: WorkerReport) => {
      if (down) throw new Error('NATS is unreachable');
      await bus.publishWorkerReport(report);
    },
  };
  const worker = startWorkerReports(flaky, { workerId: 'worker-a', concurrency: 1, log: (_level, message) => lines.push(message), intervalMs: 10, figures: noFigures });
  await sleep(200);
  assert.equal(lines, ['worker report not published']);
  down = false;
  await sleep(100);
  assert.equal(lines, ['worker report not published', 'worker reports reach the bus again']);
  assert.is((await bus.listWorkerReports())[0]?.workerId, 'worker-a');
  await worker.stopped();
  await bus.close();
});

reports.run();
