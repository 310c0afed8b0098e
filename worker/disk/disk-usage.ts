/**
 * How full the file system holding Docker's data root is, seen from this process (statfs), when
 * this process can see it at all: a remote engine's data root is not here.
 */
import { stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { type Logger } from '../../src/ports/logger.ts';

export type DiskUsage = {
  path: string;
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** As `df` counts it: used / (used + available to unprivileged users). */
  bytesUsedPercent: number;
  /** 0 on a file system without a fixed inode table. */
  inodesUsedPercent: number;
  /** The higher of the two: running out of inodes fails a pull just like running out of bytes. */
  usedPercent: number;
};

/**
 * The usage of the data root's file system, measured afresh at each call; null when the data
 * root is not visible from this process. `override` is where the data root is visible here;
 * without it, the engine's `DockerRootDir`, used only if this process sees the engine's own
 * layout there.
 */
export function dataRootUsage(docker: Docker, override: string | undefined, log: Logger): () => Promise<DiskUsage | null> {
  const findDataRoot = dataRootFinder(docker, override, log);
  return async () => {
    const path = await findDataRoot();
    return path === null ? null : measure(path);
  };
}

/**
 * Resolves once to the data root, or to null (logged once) when this process cannot see it. A
 * failure to ask the engine is not remembered: the next call asks again.
 */
function dataRootFinder(docker: Docker, override: string | undefined, log: Logger): () => Promise<string | null> {
  let found: Promise<string | null> | null = null;
  return () => {
    found ??= locate().catch((error: unknown) => {
      found = null;
      throw error;
    });
    return found;
  };

  async function locate(): Promise<string | null> {
    if (override !== undefined) {
      if (await isDirectory(override)) return override;
      log('warn', 'disk pressure checks off: the configured Docker data root is not a directory here', { dataRoot: override });
      return null;
    }
    const info = (await docker.info()) as { DockerRootDir?: unknown; Driver?: unknown };
    const root = typeof info.DockerRootDir === 'string' ? info.DockerRootDir : null;
    const driver = typeof info.Driver === 'string' ? info.Driver : null;
    // The same path may exist here for another reason (a local engine beside a remote one): the
    // engine's own layout, `image/<storage driver>`, must be there too.
    if (root !== null && driver !== null && (await isDirectory(join(root, 'image', driver)))) return root;
    log('warn', 'disk pressure checks off: the Docker data root is not visible from this process', { dataRoot: root });
    return null;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
}

async function measure(path: string): Promise<DiskUsage> {
  const fs = await statfs(path);
  const totalBytes = fs.blocks * fs.bsize;
  const usedBytes = (fs.blocks - fs.bfree) * fs.bsize;
  const availableBytes = fs.bavail * fs.bsize;
  const bytesUsedPercent = usedBytes + availableBytes > 0 ? (usedBytes / (usedBytes + availableBytes)) * 100 : 0;
  const inodesUsedPercent = fs.files > 0 ? ((fs.files - fs.ffree) / fs.files) * 100 : 0;
  return {
    path,
    totalBytes,
    usedBytes,
    availableBytes,
    bytesUsedPercent,
    inodesUsedPercent,
    usedPercent: Math.max(bytesUsedPercent, inodesUsedPercent),
  };
}
