/**
 * Disk pressure on a worker's Docker host: removes images no container uses, least recently used
 * first, either because a pull, create or start ran out of space (reactive) or because the file
 * system holding Docker's data root passed a high-water mark (proactive, as the kubelet's image
 * garbage collector does). Images named in FAASBOX_KEEP_IMAGES, images a container uses (in any
 * state) and images of runs in progress are never removed, and nothing is ever force-removed: the
 * engine's own conflict check is the last word.
 */
import type Docker from 'dockerode';
import { canonicalImageName } from '../../src/domain/image-reference.ts';
import { type Logger } from '../../src/ports/logger.ts';
import type { Metrics } from '../../src/metrics/metrics.ts';
import { engineMessage } from '../docker-engine.ts';
import { type DiskUsage, dataRootUsage } from './disk-usage.ts';
import { realNames, removeUnforced } from './image-removal.ts';

export type ImagePrunerOptions = {
  /** References as written in functions (`registry/name:tag`, `name@sha256:…`) or image ids. */
  keepImages: ReadonlySet<string>;
  /** Percent use of the data root's file system above which `pruneToLowWater` prunes… */
  highWater: number;
  /** …and below which it stops. */
  lowWater: number;
  /**
   * Where Docker's data root is visible to this process; default: the engine's `DockerRootDir`,
   * used only if this process sees the engine's own layout there (a remote engine's is not here).
   */
  dataRoot?: string;
  log: Logger;
  /**
   * Called before each prune chooses its images: frees what keeps images in use that can go
   * first (the pre-started containers), so that their images become candidates too.
   */
  beforePrune?: () => Promise<void>;
  now?: () => number;
  /** Counts images pruned and bytes reclaimed, as `totals()` does, for GET /metrics. */
  metrics?: Pick<Metrics, 'imagesPruned' | 'imageBytesReclaimed'>;
};

export type PrunedImage = {
  id: string;
  names: string[];
  /** The engine's size of the image, every layer counted. */
  sizeBytes: number;
  /** When this worker last used it (epoch ms); null: never. */
  lastUsedAt: number | null;
};

export type PruneReport = {
  reason: string;
  removed: PrunedImage[];
  /**
   * Sum of the removed images' sizes as the engine reports them. A layer shared with an image
   * that stays is counted though not freed, so this is an upper bound; it is known even when
   * the data root is not visible from here.
   */
  bytesReclaimed: number;
  /** What the file system really got back (statfs before and after); null when not visible. */
  freedBytes: number | null;
  usageBefore: DiskUsage | null;
  usageAfter: DiskUsage | null;
  /** Images the engine failed to remove, other than for being in use. */
  failed: Array<{ id: string; names: string[]; reason: string }>;
};

export type PruneTotals = { prunes: number; imagesPruned: number; bytesReclaimed: number };

/** What an operator is told of one prune (the worker's report): no engine message, no failure list. */
export type PruneSummary = {
  /** Epoch ms, when it ended. */
  at: number;
  reason: string;
  /** The prune itself failed (the engine could not list images or containers): nothing was tried. */
  failed: boolean;
  imagesRemoved: number;
  images: string[];
  bytesReclaimed: number;
  freedBytes: number | null;
};

/** The last reading of the data root's file system, and when it was taken (epoch ms). */
export type DiskReading = { usage: DiskUsage; at: number };

export interface ImagePruner {
  /** Marks the image as used now, for the least-recently-used order. */
  recordUse(image: string): void;
  /**
   * Keeps the image from being pruned until the returned function is called: a run holds its
   * image from before it checks the image is there until its container exists (and is then
   * itself a user of the image the engine knows about).
   */
  hold(image: string): () => void;
  /** Every unused image that may go, least recently used first. Never rejects: failures are logged. */
  pruneUnused(reason: string): Promise<PruneReport>;
  /** When the data root's file system is above high water, prunes until it is below low water; else null. Never rejects. */
  pruneToLowWater(): Promise<PruneReport | null>;
  /** Null when the data root is not visible from this process. */
  diskUsage(): Promise<DiskUsage | null>;
  /** The last reading taken, by any of the calls above; null before the first (or when none can be). */
  lastDiskReading(): DiskReading | null;
  /** The last RECENT_PRUNES_KEPT prunes, newest first. */
  recentPrunes(): PruneSummary[];
  totals(): PruneTotals;
}

/** Enough to see a pattern (the same prune again and again, freeing nothing), little to send. */
const RECENT_PRUNES_KEPT = 5;
/** Image names kept per prune summary. */
const NAMES_KEPT = 10;

export function createImagePruner(docker: Docker, options: ImagePrunerOptions): ImagePruner {
  const { log, highWater, lowWater } = options;
  const now = options.now ?? Date.now;
  const keep = new Set([...options.keepImages].map(canonicalImageName));
  const lastUse = new Map<string, number>();
  const holds = new Map<string, number>();
  const totals: PruneTotals = { prunes: 0, imagesPruned: 0, bytesReclaimed: 0 };
  const measureDisk = dataRootUsage(docker, options.dataRoot, log);
  let lastDiskReading: DiskReading | null = null;
  /** Every measure is remembered, so a report can tell the last one without measuring again. */
  const diskUsage = async () => {
    const usage = await measureDisk();
    if (usage !== null) lastDiskReading = { usage, at: now() };
    return usage;
  };
  const recent: PruneSummary[] = [];
  const remember = (summary: PruneSummary) => {
    recent.unshift(summary);
    recent.length = Math.min(recent.length, RECENT_PRUNES_KEPT);
  };

  // One prune at a time: two would list the same candidates and race to remove them.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusively = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  };
  let proactiveInFlight: Promise<PruneReport | null> | null = null;

  const isHeld = (image: Docker.ImageInfo) => namesOf(image).some((name) => (holds.get(name) ?? 0) > 0);
  const isKept = (image: Docker.ImageInfo) => keep.has(image.Id) || namesOf(image).some((name) => keep.has(name));
  const lastUseOf = (image: Docker.ImageInfo): number | null => {
    const times = namesOf(image).flatMap((name) => lastUse.get(name) ?? []);
    return times.length > 0 ? Math.max(...times) : null;
  };

  /** Unused, unkept, unheld images, least recently used first. */
  async function candidates(): Promise<Array<{ image: Docker.ImageInfo; lastUsedAt: number | null }>> {
    // A container created after this listing is caught by the engine itself: removal without
    // force answers 409, and the image is skipped.
    const containers = await docker.listContainers({ all: true });
    const inUse = new Set(containers.map((container) => container.ImageID));
    const images = await docker.listImages();
    return images
      .filter((image) => !inUse.has(image.Id) && !isKept(image) && !isHeld(image))
      .map((image) => ({ image, lastUsedAt: lastUseOf(image) }))
      .sort(leastRecentlyUsedFirst);
  }

  /** Removes candidates in order until `enough` says so; what was removed, and why not the rest. */
  async function prune(reason: string, enough: () => Promise<boolean>): Promise<PruneReport> {
    try {
      return await pruneOnce(reason, enough);
    } catch (error) {
      // Only a prune that was tried: a disk check that could not measure is no prune.
      remember({ at: now(), reason, failed: true, imagesRemoved: 0, images: [], bytesReclaimed: 0, freedBytes: null });
      throw error;
    }
  }

  async function pruneOnce(reason: string, enough: () => Promise<boolean>): Promise<PruneReport> {
    const usageBefore = await diskUsage().catch(() => null);
    await options.beforePrune?.().catch(() => {});
    const removed: PrunedImage[] = [];
    const failed: PruneReport['failed'] = [];
    for (const { image, lastUsedAt } of await candidates()) {
      if (await enough()) break;
      // A run may have taken hold of it since the listing.
      if (isHeld(image)) continue;
      const outcome = await removeUnforced(docker, image).catch((error: unknown) => {
        failed.push({ id: image.Id, names: realNames(image), reason: engineMessage(error) });
        return 'failed' as const;
      });
      if (outcome !== 'removed') continue;
      removed.push({ id: image.Id, names: realNames(image), sizeBytes: image.Size, lastUsedAt });
      for (const name of namesOf(image)) lastUse.delete(name);
    }
    const usageAfter = await diskUsage().catch(() => null);
    const report: PruneReport = {
      reason,
      removed,
      bytesReclaimed: removed.reduce((sum, image) => sum + image.sizeBytes, 0),
      freedBytes: usageBefore && usageAfter ? Math.max(0, usageBefore.usedBytes - usageAfter.usedBytes) : null,
      usageBefore,
      usageAfter,
      failed,
    };
    remember({
      at: now(),
      reason,
      failed: false,
      imagesRemoved: removed.length,
      images: removed.slice(0, NAMES_KEPT).map((image) => image.names[0] ?? image.id),
      bytesReclaimed: report.bytesReclaimed,
      freedBytes: report.freedBytes,
    });
    totals.prunes += 1;
    totals.imagesPruned += removed.length;
    totals.bytesReclaimed += report.bytesReclaimed;
    options.metrics?.imagesPruned.inc(removed.length);
    options.metrics?.imageBytesReclaimed.inc(report.bytesReclaimed);
    log(removed.length > 0 ? 'info' : 'warn', removed.length > 0 ? 'images pruned' : 'no image could be pruned', {
      reason,
      images: removed.map((image) => image.names[0] ?? image.id),
      imagesPruned: removed.length,
      bytesReclaimed: report.bytesReclaimed,
      freedBytes: report.freedBytes,
      usedPercentBefore: rounded(usageBefore?.usedPercent),
      usedPercentAfter: rounded(usageAfter?.usedPercent),
      // One line for all: on a completely full disk every removal fails the same way.
      ...(failed.length > 0 ? { removalsFailed: failed.length, firstFailure: failed[0]?.reason } : {}),
    });
    return report;
  }

  const failedPrune = (reason: string, error: unknown): PruneReport => {
    log('error', 'image pruning failed', { reason, error: engineMessage(error) });
    return { reason, removed: [], bytesReclaimed: 0, freedBytes: null, usageBefore: null, usageAfter: null, failed: [] };
  };

  return {
    recordUse(image) {
      lastUse.set(canonicalImageName(image), now());
    },
    hold(image) {
      const name = canonicalImageName(image);
      holds.set(name, (holds.get(name) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const count = (holds.get(name) ?? 1) - 1;
        if (count > 0) holds.set(name, count);
        else holds.delete(name);
      };
    },
    pruneUnused(reason) {
      // Everything unused goes, not just "enough": how much the failed step needs is unknown (a
      // pull's unpacked size is learnt only by running out), and it gets one retry only. An image
      // pruned too many costs a pull later; one pruned too few costs the run.
      return exclusively(() => prune(reason, async () => false)).catch((error: unknown) => failedPrune(reason, error));
    },
    pruneToLowWater() {
      const belowLowWater = async () => {
        const current = await diskUsage();
        return current === null || current.usedPercent < lowWater;
      };
      proactiveInFlight ??= exclusively(async () => {
        // Measured inside the queue: a prune that ran just before may have done the work.
        const usage = await diskUsage();
        if (usage === null || !(usage.usedPercent > highWater)) return null;
        const report = await prune(`disk use ${rounded(usage.usedPercent)}% above high water ${highWater}%`, belowLowWater);
        if (report.usageAfter && !(report.usageAfter.usedPercent < lowWater)) {
          log('warn', 'disk still above low water after pruning', { usedPercent: rounded(report.usageAfter.usedPercent), lowWater });
        }
        return report;
      })
        .catch((error: unknown) => {
          failedPrune('proactive', error);
          return null;
        })
        .finally(() => {
          proactiveInFlight = null;
        });
      return proactiveInFlight;
    },
    diskUsage,
    lastDiskReading: () => (lastDiskReading === null ? null : { usage: { ...lastDiskReading.usage }, at: lastDiskReading.at }),
    recentPrunes: () => recent.map((summary) => ({ ...summary, images: [...summary.images] })),
    totals: () => ({ ...totals }),
  };
}

// ---- names and order

const namesOf = (image: Docker.ImageInfo) => realNames(image).map(canonicalImageName);

/** Never used by this worker first, by creation; then by last use. */
function leastRecentlyUsedFirst(
  a: { image: Docker.ImageInfo; lastUsedAt: number | null },
  b: { image: Docker.ImageInfo; lastUsedAt: number | null },
): number {
  const used = (a.lastUsedAt ?? -Infinity) - (b.lastUsedAt ?? -Infinity);
  if (used !== 0 && !Number.isNaN(used)) return used;
  return a.image.Created - b.image.Created || a.image.Id.localeCompare(b.image.Id);
}

const rounded = (percent: number | undefined) => (percent === undefined ? null : Math.round(percent * 10) / 10);
