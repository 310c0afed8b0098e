/**
 * Disk pressure on a worker's Docker host: the image pruner, the engine's out-of-space errors
 * and the one retry after a prune, and how full the data root's file system is.
 */
export {
  type DiskReading,
  type ImagePruner,
  type ImagePrunerOptions,
  type PruneReport,
  type PruneSummary,
  type PruneTotals,
  type PrunedImage,
  createImagePruner,
} from './image-pruner.ts';
export { NO_DISK_SPACE, NoDiskSpaceError, isOutOfSpace, isOutOfSpaceMessage, retriedWhenOutOfSpace } from './out-of-space.ts';
export type { DiskUsage } from './disk-usage.ts';
