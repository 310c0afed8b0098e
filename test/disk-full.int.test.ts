/**
 * Disk pressure on a worker, for real: a second Docker engine on a 300 MB file
 * system of its own, filled with images of incompressible content pulled from a loopback
 * registry, and the worker's runtime and pruner over it. The engine's own out-of-space errors
 * (pull, create, start) are provoked and printed, so the detection is checked against what this
 * engine really says.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Logger } from '../src/ports/logger.ts';
import type { ContainerRunOutcome } from '../src/domain/execution-outcome.ts';
import type { ContainerRunSpec } from '../src/ports/container-runtime.ts';
import { NO_DISK_SPACE, type ImagePruner, type ImagePrunerOptions, type PruneReport, createImagePruner, isOutOfSpace } from '../worker/disk/index.ts';
import { type DockerRuntimeOptions, createDockerRuntime } from '../worker/docker/index.ts';
import { BUILT_AGENT_PATH } from '../worker/agent/binary.ts';
import { ensureFillerImages } from './support/filler-images.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type SmallDocker, startSmallDocker } from './support/small-docker.ts';
import { hasImage } from '../worker/docker-engine.ts';
import { within } from './support/eventually.ts';
import { deleteManifest, pushTag } from './support/registry-images.ts';
import { createRegistryImageResolver } from '../src/adapters/image-registry/index.ts';
import { pinnedReference } from '../src/domain/image-reference.ts';

const MiB = 1024 * 1024;
const FILLER_MB = 40;
/** What "nearly full" leaves: two 4 KiB blocks. */
const NEARLY_FULL_BYTES = 8192;
const workerId = `disk-full-test-${randomUUID().slice(0, 8)}`;

let registry: Registry;
let small: SmallDocker;
/** filler[1] … filler[7]; index 0 unused, so the numbers read as the image names. */
let filler: string[];
const reports: PruneReport[] = [];

// ---- helpers

/** A pull straight on the small engine (not through the runtime): resolves, or rejects with the engine's message. */
async function pull(image: string, docker: Docker = small.docker): Promise<void> {
  const progress = await docker.pull(image);
  await within(
    new Promise<void>((resolve, reject) => {
      let failure: string | null = null;
      docker.modem.followProgress(
        progress,
        (error) => (error ? reject(error) : failure ? reject(new Error(failure)) : resolve()),
        (event: { errorDetail?: { message?: string } }) => {
          failure ??= event.errorDetail?.message ?? null;
        },
      );
    }),
    60_000,
    `pull of ${image}`,
  );
}

async function imagesPresent(): Promise<string[]> {
  const images = await small.docker.listImages();
  return images.flatMap((image) => image.RepoTags ?? []).filter((tag) => !tag.startsWith('<none>')).sort();
}

function disk(): { usedBytes: number; availableBytes: number; usedPercent: number } {
  const fs = statfsSync(small.mountPoint);
  const usedBytes = (fs.blocks - fs.bfree) * fs.bsize;
  const availableBytes = fs.bavail * fs.bsize;
  return { usedBytes, availableBytes, usedPercent: (usedBytes / (usedBytes + availableBytes)) * 100 };
}

/**
 * A file beside the data root that takes the room the test wants taken. Returns a function that
 * removes it.
 */
function ballast(leaveBytes: number): () => void {
  const path = join(small.mountPoint, `ballast-${randomUUID()}`);
  const fd = openSync(path, 'w');
  try {
    const zeros = Buffer.alloc(MiB);
    for (const chunk of [MiB, 64 * 1024, 4096, 512, 1]) {
      for (;;) {
        const room = disk().availableBytes - leaveBytes;
        if (room < chunk) break;
        try {
          writeSync(fd, zeros, 0, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return () => rmSync(path, { force: true });
}

type Harness = { runtime: ReturnType<typeof createDockerRuntime>; pruner: ImagePruner; logs: Array<{ level: string; message: string; fields: Record<string, unknown> }> };

/** A runtime and its pruner over the small engine; every reactive prune's report is kept for the closing figure. */
function harness(
  pruning: Partial<ImagePrunerOptions> = {},
  docker: Docker = small.docker,
  prunerDocker: Docker = small.docker,
  runtimeOptions: Partial<DockerRuntimeOptions> = {},
): Harness {
  const logs: Harness['logs'] = [];
  const log: Logger = (level, message, fields = {}) => logs.push({ level, message, fields });
  // highWater 100: "above 100%" never happens, so only the reactive path prunes unless a test says otherwise.
  const pruner = createImagePruner(prunerDocker, { keepImages: new Set(), highWater: 100, lowWater: 99, log, ...pruning });
  const recording: ImagePruner = {
    ...pruner,
    async pruneUnused(reason) {
      const report = await pruner.pruneUnused(reason);
      reports.push(report);
      return report;
    },
  };
  return { runtime: createDockerRuntime(docker, { workerId, agentPath: BUILT_AGENT_PATH, pruner: recording, ...runtimeOptions }), pruner: recording, logs };
}

/** A client of the small engine that notes the engine's message for every image removal it refuses. */
function recordingFailedRemovals(): { docker: Docker; failures: string[] } {
  const docker = new Docker({ socketPath: small.socketPath });
  const failures: string[] = [];
  const getImage = docker.getImage.bind(docker);
  docker.getImage = ((name: string) => {
    const image = getImage(name);
    const remove = image.remove.bind(image) as (options?: object) => Promise<unknown>;
    image.remove = (async (options?: object) => {
      try {
        return await remove(options);
      } catch (error) {
        failures.push((error as { json?: { message?: string } }).json?.message ?? String(error));
        throw error;
      }
    }) as typeof image.remove;
    return image;
  }) as typeof docker.getImage;
  return { docker, failures };
}

function specOf(image: string, overrides: Partial<ContainerRunSpec> = {}): ContainerRunSpec {
  return {
    executionId: randomUUID(),
    functionId: randomUUID(),
    ownerId: randomUUID(),
    image,
    command: null,
    env: {},
    stdin: new Uint8Array(),
    timeoutMs: 30_000,
    memoryMb: 32,
    reuse: false,
    correlationId: randomUUID(),
    onStarted: async () => {},
    ...overrides,
  };
}

async function containersOf(executionId: string): Promise<string[]> {
  const found = await small.docker.listContainers({ all: true, filters: { label: [`faasbox.execution=${executionId}`] } });
  return found.map((container) => `${container.Id.slice(0, 12)} ${container.State}`);
}

/** Runs one execution and checks that its container is gone afterwards, whatever the outcome. */
async function run(runtime: Harness['runtime'], spec: ContainerRunSpec): Promise<ContainerRunOutcome> {
  const outcome = await within(runtime.run(spec), 90_000, `run of ${spec.image}`);
  await runtime.removalsSettled();
  assert.equal(await containersOf(spec.executionId), [], 'the container is removed');
  return outcome;
}

/** A run of `image` that sleeps until stopped: while it runs, its image is in use. */
async function startLongRun(runtime: Harness['runtime'], image: string): Promise<{ stop(): Promise<ContainerRunOutcome> }> {
  const controller = new AbortController();
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const outcome = run(runtime, specOf(image, { command: ['sleep', '120'], timeoutMs: 120_000, signal: controller.signal, onStarted: async () => started() }));
  outcome.catch(() => {}); // awaited in stop(); a failure before the start shows there
  await within(Promise.race([running, outcome.then((end) => Promise.reject(new Error(`the long run ended early: ${JSON.stringify(end)}`)))]), 60_000, `start of a long run of ${image}`);
  return {
    async stop() {
      controller.abort('long run over');
      return outcome;
    },
  };
}

const totalOf = (list: PruneReport[]) => ({
  images: list.reduce((sum, report) => sum + report.removed.length, 0),
  bytes: list.reduce((sum, report) => sum + report.bytesReclaimed, 0),
  freed: list.reduce((sum, report) => sum + (report.freedBytes ?? 0), 0),
});

/** Each removed image as its tags, sorted and joined; digests left out. */
const removedNames = (report: PruneReport | undefined) =>
  (report?.removed ?? []).map((image) =>
    image.names
      .filter((name) => !name.includes('@'))
      .sort()
      .join(','),
  );

// ---- the suite

const test = suite('disk full');

test('a 300 MB Docker engine starts beside the main one, and filler images wait in a loopback registry', async () => {
  registry = await startRegistry();
  const [images, engine] = await Promise.all([ensureFillerImages(registry.address, 7, FILLER_MB), startSmallDocker(300)]);
  small = engine;
  filler = ['', ...images];
  assert.equal(await imagesPresent(), []);
  const info = (await small.docker.info()) as { DockerRootDir: string };
  assert.is(info.DockerRootDir, small.dataRoot);

  // The pruner finds the data root through the engine and measures the small file system.
  const usage = await harness().pruner.diskUsage();
  assert.ok(usage, 'the data root is visible');
  assert.is(usage.path, small.dataRoot);
  assert.ok(usage.totalBytes > 250 * MiB && usage.totalBytes < 300 * MiB, String(usage.totalBytes));
  assert.ok(usage.usedPercent < 5, `a fresh engine uses little: ${usage.usedPercent}%`);

  // An engine whose data root is not here (a remote one): proactive pruning is off, said once.
  const remote = { info: async () => ({ DockerRootDir: `/nonexistent-${randomUUID()}`, Driver: 'overlay2' }) } as unknown as Docker;
  const farLogs: string[] = [];
  const farPruner = createImagePruner(remote, { keepImages: new Set(), highWater: 0, lowWater: 0, log: (_level, message) => farLogs.push(message) });
  assert.is(await farPruner.diskUsage(), null);
  assert.is(await farPruner.pruneToLowWater(), null);
  assert.equal(farLogs, ['disk pressure checks off: the Docker data root is not visible from this process']);
  // An explicit data root wins over the engine's answer.
  const overridden = createImagePruner(remote, { keepImages: new Set(), highWater: 90, lowWater: 80, dataRoot: small.dataRoot, log: () => {} });
  assert.is((await overridden.diskUsage())?.path, small.dataRoot);
});

test('(a, b) a pull that runs out of space succeeds after unused images are pruned; the image of a running container stays', async () => {
  for (const index of [1, 2, 3, 4, 5]) await pull(filler[index] as string);
  const full = disk();
  assert.ok(full.usedPercent > 70 && full.availableBytes < 2 * FILLER_MB * MiB, `near full: ${JSON.stringify(full)}`);

  // What the engine itself says when the pull does not fit.
  const refused = await pull(filler[6] as string).then(
    () => null,
    (error: Error) => error,
  );
  assert.ok(refused, 'the pull of a sixth image must not fit');
  console.log(`disk-full: engine on pull: ${refused.message}`);
  assert.ok(isOutOfSpace(refused), refused.message);
  assert.is(await hasImage(small.docker, filler[6] as string), false);

  const { runtime, logs } = harness();
  const longRun = await startLongRun(runtime, filler[1] as string);
  const before = reports.length;
  const outcome = await run(runtime, specOf(filler[6] as string, { command: ['echo', 'it fits now'] }));
  assert.equal(outcome, { ...outcome, kind: 'exited', exitCode: 0, stdout: 'it fits now\n' }, JSON.stringify(outcome));

  const pruned = reports.slice(before);
  assert.is(pruned.length, 1, 'one prune, one retry');
  const report = pruned[0] as PruneReport;
  assert.match(report.reason, /^pull of .*filler-6:1 ran out of disk space$/);
  assert.equal(removedNames(report).sort(), [2, 3, 4, 5].map((index) => filler[index]));
  assert.ok(report.bytesReclaimed >= 4 * FILLER_MB * MiB, String(report.bytesReclaimed));
  assert.ok(report.freedBytes !== null && report.freedBytes >= 4 * FILLER_MB * MiB, String(report.freedBytes));
  assert.ok(await hasImage(small.docker, filler[1] as string), 'the running container’s image survives');
  assert.ok(await hasImage(small.docker, filler[6] as string));

  const line = logs.find((entry) => entry.message === 'images pruned');
  assert.ok(line, JSON.stringify(logs));
  assert.is(line.fields.imagesPruned, 4);
  assert.is(line.fields.bytesReclaimed, report.bytesReclaimed);
  console.log(`disk-full: reclaimed ${report.bytesReclaimed} bytes in ${report.removed.length} images (statfs: ${report.freedBytes} bytes freed)`);

  const ended = await longRun.stop();
  assert.equal(ended, { kind: 'failed', reason: 'long run over', started: true });
});

test('(c) when nothing can be pruned, the run fails with exactly "no disk space on worker after pruning" and leaves no container', async () => {
  // In use: filler-1 by a running container; kept: filler-6. Nothing else is there.
  assert.equal(await imagesPresent(), [filler[1], filler[6]].sort());
  const removeBallast = ballast(30 * MiB);
  try {
    const { runtime, pruner, logs } = harness({ keepImages: new Set([filler[6] as string]) });
    const longRun = await startLongRun(runtime, filler[1] as string);
    try {
      const spec = specOf(filler[7] as string, { command: ['echo', 'never'] });
      const outcome = await run(runtime, spec);
      // The host's fault, not the job's: the worker hands such a job back for another worker first.
      assert.equal(outcome, { kind: 'failed', reason: NO_DISK_SPACE, started: false, hostFault: true });
      assert.is(NO_DISK_SPACE, 'no disk space on worker after pruning');
      assert.equal(await containersOf(spec.executionId), []);
      assert.is(pruner.totals().imagesPruned, 0);
      assert.ok(logs.some((entry) => entry.level === 'warn' && entry.message === 'no image could be pruned'), JSON.stringify(logs));
      assert.equal(await imagesPresent(), [filler[1], filler[6]].sort(), 'the image in use and the kept one are both still there');

      // Without a pruner, the same run fails with the engine's own words, as before.
      const plain = createDockerRuntime(small.docker, { workerId, agentPath: BUILT_AGENT_PATH });
      const unpruned = await run(plain, specOf(filler[7] as string));
      assert.is(unpruned.kind, 'failed');
      assert.match((unpruned as { reason: string }).reason, new RegExp(`^image ${filler[7]} could not be pulled: .*no space left on device`));
    } finally {
      await longRun.stop();
    }
  } finally {
    removeBallast();
  }
});

test('on a disk full to the last block, pruning still frees room, though the engine refuses each name once', async () => {
  assert.equal(await imagesPresent(), [filler[1], filler[6]].sort());
  const removals = recordingFailedRemovals();
  const removeBallast = ballast(0);
  // The engine may still be freeing what an earlier test removed: what it frees meanwhile is taken too.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const removeTopUp = ballast(0);
  try {
    const { runtime } = harness({}, small.docker, removals.docker);
    const before = reports.length;
    const outcome = await run(runtime, specOf(filler[1] as string, { command: ['echo', 'room at last'] }));
    assert.equal(outcome, { ...outcome, kind: 'exited', exitCode: 0, stdout: 'room at last\n' }, JSON.stringify(outcome));
    const report = reports[before] as PruneReport;
    assert.equal(report.failed, []);
    assert.equal(removedNames(report), [filler[6]]);
    assert.equal(await imagesPresent(), [filler[1]]);
    // At most one refusal per name (its tag, then its digest), then the removal that freed the
    // room. How many the engine refuses depends on the bytes its own writes find (1 or 2 seen);
    // none would mean the disk was not full and this test proved nothing.
    assert.ok(removals.failures.length >= 1 && removals.failures.length <= 2, JSON.stringify(removals.failures));
    console.log(`disk-full: engine on removing an image with 0 bytes free: ${removals.failures[0]}`);
    for (const failure of removals.failures) assert.match(failure, /repositories\.json.*no space left on device/);
  } finally {
    removeTopUp();
    removeBallast();
  }
});

test('a create that runs out of space is retried after pruning and the run succeeds', async () => {
  // filler-1 is present, so the run pulls nothing and the first step to need room is the create.
  await pull(filler[2] as string); // something unused to prune
  const creates: string[] = [];
  const docker = new Docker({ socketPath: small.socketPath });
  const create = docker.createContainer.bind(docker);
  docker.createContainer = (async (options: Docker.ContainerCreateOptions) => {
    try {
      return await create(options);
    } catch (error) {
      creates.push((error as { json?: { message?: string } }).json?.message ?? String(error));
      throw error;
    }
  }) as typeof docker.createContainer;
  const { runtime } = harness({}, docker);

  // Two blocks: too few for a container's layers, enough for the engine to untag an image (it
  // rewrites repositories.json first; at zero bytes free it cannot remove any tagged image).
  const removeBallast = ballast(NEARLY_FULL_BYTES);
  try {
    const before = reports.length;
    const outcome = await run(runtime, specOf(filler[1] as string, { command: ['echo', 'created'] }));
    assert.equal(outcome, { ...outcome, kind: 'exited', exitCode: 0, stdout: 'created\n' }, JSON.stringify(outcome));
    assert.is(creates.length, 1, 'the first create failed, the retry did not');
    console.log(`disk-full: engine on create: ${creates[0]}`);
    assert.ok(isOutOfSpace(creates[0]), creates[0]);
    const report = reports[before] as PruneReport;
    assert.match(report.reason, /^create from .*filler-1:1 ran out of disk space$/);
    assert.equal(removedNames(report), [filler[2]], 'filler-2 was unused; filler-1 is the run’s own');
  } finally {
    removeBallast();
  }
});

test('a start that runs out of space is retried after pruning, on the same attached container', async () => {
  await pull(filler[3] as string); // something unused to prune
  const starts: string[] = [];
  const ballasts: Array<() => void> = [];
  const docker = new Docker({ socketPath: small.socketPath });
  const create = docker.createContainer.bind(docker);
  // The disk fills between the create and the start.
  docker.createContainer = (async (options: Docker.ContainerCreateOptions) => {
    const container = await create(options);
    ballasts.push(ballast(NEARLY_FULL_BYTES));
    const start = container.start.bind(container);
    container.start = (async () => {
      try {
        return await start();
      } catch (error) {
        starts.push((error as { json?: { message?: string } }).json?.message ?? String(error));
        throw error;
      }
    }) as typeof container.start;
    return container;
  }) as typeof docker.createContainer;
  const { runtime } = harness({}, docker);

  try {
    const before = reports.length;
    const outcome = await run(runtime, specOf(filler[1] as string, { command: ['cat'], stdin: new TextEncoder().encode('stdin still flows') }));
    const pruned = JSON.stringify({ starts, reports: reports.slice(before).map(({ removed, failed }) => ({ removed, failed })) });
    assert.equal(outcome, { ...outcome, kind: 'exited', exitCode: 0, stdout: 'stdin still flows' }, `${JSON.stringify(outcome)} ${pruned}`);
    assert.is(starts.length, 1, 'the first start failed, the retry did not');
    console.log(`disk-full: engine on start: ${starts[0]}`);
    assert.ok(isOutOfSpace(starts[0]), starts[0]);
    const report = reports[before] as PruneReport;
    assert.match(report.reason, /^start from .*filler-1:1 ran out of disk space$/);
    assert.equal(removedNames(report), [filler[3]]);
  } finally {
    for (const remove of ballasts) remove();
  }
});

test('(d) above high water, pruneToLowWater removes least recently used images until below low water', async () => {
  for (const index of [2, 3, 4]) await pull(filler[index] as string);
  assert.equal(await imagesPresent(), [1, 2, 3, 4].map((index) => filler[index]).sort());
  let clock = 0;
  const { pruner: probe } = harness();
  const usage = await probe.diskUsage();
  assert.ok(usage);
  const imageBytes = (await small.docker.getImage(filler[2] as string).inspect()).Size;
  // Between the use after one removal and the use after two: exactly two must go.
  const lowWater = (100 * (usage.usedBytes - 1.5 * imageBytes)) / (usage.usedBytes + usage.availableBytes);
  const highWater = usage.usedPercent - 1;
  const { pruner, logs } = harness({ highWater, lowWater, now: () => clock });

  // Uses by this worker: filler-1 longest ago, then filler-3, then filler-4; filler-2 never.
  for (const index of [1, 3, 4]) {
    clock += 1000;
    pruner.recordUse(filler[index] as string);
  }
  const report = await within(pruner.pruneToLowWater(), 60_000, 'pruneToLowWater');
  assert.ok(report, 'usage was above high water');
  assert.equal(removedNames(report), [filler[2], filler[1]], 'never used first, then the least recently used');
  const after = await pruner.diskUsage();
  assert.ok(after && after.usedPercent < lowWater, `${after?.usedPercent}% < ${lowWater}%`);
  assert.equal(await imagesPresent(), [filler[3], filler[4]].sort());
  assert.ok(logs.some((entry) => entry.message === 'images pruned' && entry.fields.imagesPruned === 2), JSON.stringify(logs));
  assert.is(await pruner.pruneToLowWater(), null, 'below high water: nothing to do');
  assert.equal(pruner.totals(), { prunes: 1, imagesPruned: 2, bytesReclaimed: report.bytesReclaimed });
  reports.push(report);
});

test('(e) images in FAASBOX_KEEP_IMAGES are never pruned, however they are named; an image with two names goes', async () => {
  await pull(filler[5] as string);
  const digestOf5 = (await small.docker.getImage(filler[5] as string).inspect()).RepoDigests[0] as string;
  // filler-4 gets a second name in another repository: the engine refuses to remove it by id
  // without force, so the pruner must remove it name by name.
  await small.docker.getImage(filler[4] as string).tag({ repo: `${registry.address}/faasbox/alias`, tag: '1' });

  const keepImages = new Set([filler[3] as string, digestOf5]);
  const reactive = harness({ keepImages });
  const report = await within(reactive.pruner.pruneUnused('test'), 60_000, 'pruneUnused');
  assert.equal(removedNames(report), [[filler[4], `${registry.address}/faasbox/alias:1`].sort().join(',')]);
  assert.equal(await imagesPresent(), [filler[3], filler[5]].sort());

  // Proactive pruning with every mark at the bottom still leaves kept images alone.
  const proactive = harness({ keepImages, highWater: 0, lowWater: 0 });
  const nothing = await within(proactive.pruner.pruneToLowWater(), 60_000, 'pruneToLowWater');
  assert.ok(nothing);
  assert.equal(nothing.removed, []);
  assert.ok(proactive.logs.some((entry) => entry.message === 'disk still above low water after pruning'), JSON.stringify(proactive.logs));
  assert.equal(await imagesPresent(), [filler[3], filler[5]].sort());
});

test('(f) pre-started containers are dropped before any image is pruned; the image of a function the pool serves stays', async () => {
  // Present now: filler-3 and filler-5, used by nothing; filler-2 too (a pull needs room for the
  // download and the extracted layer: two unused images' worth).
  assert.equal(await imagesPresent(), [filler[3], filler[5]].sort());
  await pull(filler[2] as string);
  const seenAtDrop: { images: string[]; ready: number }[] = [];
  let pooled: Harness | undefined;
  const beforePrune = async () => {
    await pooled?.runtime.dropPrestarted();
    seenAtDrop.push({ images: await imagesPresent(), ready: pooled?.runtime.poolCounts().ready ?? -1 });
  };
  pooled = harness({ beforePrune }, small.docker, small.docker, { prestart: { perFunction: 1, total: 2, idleMs: 60_000, maxAgeMs: 600_000 } });
  const { runtime } = pooled;
  try {
    const warm = specOf(filler[3] as string, { command: ['true'] });
    assert.is((await run(runtime, warm)).kind, 'exited');
    await within(
      (async () => {
        while (runtime.poolCounts().ready < 1) await new Promise((resolve) => setTimeout(resolve, 50));
      })(),
      30_000,
      'a pre-started container of filler-3',
    );
    const [waiting] = await small.docker.listContainers({ filters: { label: [`faasbox.prestarted=${warm.functionId}`] } });
    assert.ok(waiting, 'the pool holds one');

    const removeBallast = ballast(10 * MiB);
    try {
      const outcome = await run(runtime, specOf(filler[6] as string, { command: ['echo', 'it fits'] }));
      assert.equal(outcome, { ...outcome, kind: 'exited', exitCode: 0, stdout: 'it fits\n' }, JSON.stringify(outcome));
    } finally {
      removeBallast();
    }
    // The drop came first: when it was done, no image had gone yet and nothing was ready.
    assert.equal(seenAtDrop[0], { images: [filler[2], filler[3], filler[5]].sort(), ready: 0 });
    const report = reports.at(-1);
    assert.equal(removedNames(report).sort(), [filler[2], filler[5]].sort(), 'the unused images go; the pooled function’s does not');
    assert.ok(await hasImage(small.docker, filler[3] as string));
    assert.is((await small.docker.listContainers({ all: true, filters: { id: [waiting.Id] } })).length, 0, 'the waiting container was removed');
  } finally {
    await runtime.close();
  }
  assert.equal(await small.docker.listContainers({ all: true, filters: { label: [`faasbox.worker=${workerId}`] } }), []);
});

test('(g) workers run pinned references (tag@digest): pulled once by digest, then run from the engine even with the manifest gone; held and kept by digest, matched to the engine\'s RepoDigests', async () => {
  // Start from an engine with no unused image, so that only what this test pulls can be pruned.
  await within(harness().pruner.pruneUnused('test (g) starts clean'), 60_000, 'pruneUnused');
  const resolver = createRegistryImageResolver();
  const pinned = async (image: string) => pinnedReference(image, await resolver.digestOf(image));
  // filler-7 under a tag and digest of its own, taken out of the registry after the first run.
  const movable = `${registry.address}/faasbox/filler-7:pinned`;
  const movableDigest = await pushTag(filler[7] as string, movable, { variant: randomUUID() });
  const [running, kept] = [pinnedReference(movable, movableDigest), await pinned(filler[1] as string)];
  const { runtime, pruner } = harness({ keepImages: new Set([kept]) });
  try {
    for (const image of [running, kept]) assert.equal((await run(runtime, specOf(image, { command: ['true'] }))).kind, 'exited', image);
    const digests = async () => (await small.docker.listImages()).flatMap((image) => image.RepoDigests ?? []).sort();
    const unpinned = (reference: string) => reference.replace(/:[^:/@]+@/, '@');
    assert.equal(await digests(), [unpinned(running), unpinned(kept)].sort(), 'pulled by digest: no tag, one digest each');
    await deleteManifest(movable, movableDigest);
    const again = await run(runtime, specOf(running, { command: ['echo', 'from the engine'] }));
    assert.equal([again.kind, again.kind === 'exited' ? again.stdout : ''], ['exited', 'from the engine\n'], 'present by its digest: not pulled again');

    const release = pruner.hold(running);
    const none = await within(pruner.pruneUnused('test (g) held and kept'), 60_000, 'pruneUnused');
    assert.equal(none.removed, [], 'the held pinned image and the kept one stay');
    release();
    const report = await within(pruner.pruneUnused('test (g) released'), 60_000, 'pruneUnused');
    assert.equal(report.removed.map((image) => image.names), [[unpinned(running)]]);
    assert.equal(await digests(), [unpinned(kept)]);
    reports.push(report);
  } finally {
    await runtime.close();
  }
});

test('the small engine and the registry stop, and nothing of them is left', async () => {
  const total = totalOf(reports);
  console.log(`disk-full: reclaimed ${total.bytes} bytes in ${total.images} images over ${reports.length} prunes (statfs: ${total.freed} bytes freed)`);
  assert.ok(total.images >= 8);
  const { mountPoint } = small;
  await within(small.stop(), 30_000, 'stop of the small engine');
  await registry.stop();
  assert.not.ok(readFileSync('/proc/self/mounts', 'utf8').includes(mountPoint), 'unmounted');
});

test.run();
