/**
 * Running out of disk space: how the engine says it, and the one retry after a prune that the
 * runtime gives a pull, a create or a start that ran out.
 */

/**
 * The engine's ways of saying the disk is full, as Docker 20.10 on overlay2 words them (seen in
 * test/disk-full.int.test.ts; which one depends on how many blocks were left):
 * pull, unpacking:  "failed to register layer: Error processing tar file(exit status 1): write /filler: no space left on device"
 * pull, download:   "write /var/lib/docker/tmp/GetImageBlob1143439461: no space left on device"
 * create:           "mkdir /var/lib/docker/overlay2/<id>-init: no space left on device", or
 *                   "symlink ../<id>-init/diff /var/lib/docker/overlay2/l/<short>: no space left on device"
 * start:            "mkdir /var/lib/docker/overlay2/<id>/merged: no space left on device", or
 *                   "failed to write unhaltered resolv.conf file content when setting up dns for sandbox <id>: write /var/lib/docker/containers/<id>/resolv.conf: no space left on device"
 * plus Node's own ENOSPC and Windows' "There is not enough space on the disk". Not "disk quota
 * exceeded": that is a container's own quota, which pruning images does not raise.
 */
const OUT_OF_SPACE = [/no space left on device/i, /\bENOSPC\b/, /not enough space on the disk/i];

export function isOutOfSpaceMessage(text: string): boolean {
  // Quoted parts are the user's words (a command in `exec: "…": executable file not found`),
  // not the engine's: a function named after the error must not look like a full disk.
  const engineWords = text.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return OUT_OF_SPACE.some((pattern) => pattern.test(engineWords));
}

/** For an error from dockerode (its JSON body or message) or from Node (`code: 'ENOSPC'`). */
export function isOutOfSpace(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return typeof error === 'string' && isOutOfSpaceMessage(error);
  const { code, message, json } = error as { code?: unknown; message?: unknown; json?: { message?: unknown } | null };
  if (code === 'ENOSPC') return true;
  return [json?.message, message].some((text) => typeof text === 'string' && isOutOfSpaceMessage(text));
}

/** The whole reason a run fails with when pruning did not free enough for the step to succeed. */
export const NO_DISK_SPACE = 'no disk space on worker after pruning';

export class NoDiskSpaceError extends Error {
  override readonly name = 'NoDiskSpaceError';
  constructor() {
    super(NO_DISK_SPACE);
  }
}

/**
 * Runs `step`; if it ran out of disk space, prunes unused images, makes ready for a second try
 * (`beforeRetry`), and runs it once more. Without a pruner the step's failure is passed on as it
 * is; a second try that runs out of space too fails with a NoDiskSpaceError.
 */
export async function retriedWhenOutOfSpace<T>(
  pruner: { pruneUnused(reason: string): Promise<unknown> } | null,
  step: string,
  action: () => Promise<T>,
  beforeRetry: () => Promise<void> = async () => {},
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (pruner === null || !isOutOfSpace(error)) throw error;
  }
  // The prune never rejects; it reports (and logs) what it could free, which may be nothing.
  await pruner.pruneUnused(`${step} ran out of disk space`);
  await beforeRetry();
  try {
    return await action();
  } catch (error) {
    throw isOutOfSpace(error) ? new NoDiskSpaceError() : error;
  }
}
