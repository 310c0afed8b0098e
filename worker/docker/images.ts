/**
 * Getting a function's image onto the engine: pulled when absent (or every run, by policy), one
 * pull per image however many runs wait for it, with room made on the disk first.
 */
import type Docker from 'dockerode';
import { hasImage } from '../docker-engine.ts';
import { type ImagePruner, retriedWhenOutOfSpace } from '../disk/index.ts';

export type PullPolicy = 'missing' | 'always';

export type ImageSupply = {
  /** Resolves once the engine has the image; rejects with the pull's failure. */
  ensure(image: string): Promise<void>;
  /**
   * Forgets that the engine has the image, after a create answered "No such image"; false when
   * it was not believed there (then the create's failure is the run's).
   */
  forget(image: string): boolean;
};

export function imageSupply(docker: Docker, pullPolicy: PullPolicy, pruner: ImagePruner | null): ImageSupply {
  // The proactive prune and the out-of-space retry are part of the shared pull, so that runs
  // waiting for the same image cause one prune and one retry, not one each.
  const pullOnce = sharePullsInFlight(async (image) => {
    await pruner?.pruneToLowWater();
    await retriedWhenOutOfSpace(pruner, `pull of ${image}`, () => pullToTheEnd(docker, image));
  });

  /**
   * Images this runtime has found on the engine (or pulled). With the `missing` policy a run of
   * one goes straight to the create: asking the engine first would cost every execution a round
   * trip (a few ms of a cold start). One removed since (by a prune, another worker's on the same
   * engine, an operator) fails that create with "No such image"; the run then makes sure of the
   * image as on first use and creates again.
   */
  const seenOnEngine = new Set<string>();

  return {
    async ensure(image) {
      if (pullPolicy === 'missing' && (seenOnEngine.has(image) || (await hasImage(docker, image)))) {
        seenOnEngine.add(image);
        return;
      }
      await pullOnce(image);
      seenOnEngine.add(image);
    },
    forget: (image) => seenOnEngine.delete(image),
  };
}

/** One pull per image at a time: concurrent runs of an absent image wait for the same pull. */
function sharePullsInFlight(pull: (image: string) => Promise<void>): (image: string) => Promise<void> {
  const inFlight = new Map<string, Promise<void>>();
  return (image) => {
    let pulling = inFlight.get(image);
    if (!pulling) {
      pulling = pull(image).finally(() => inFlight.delete(image));
      inFlight.set(image, pulling);
    }
    return pulling;
  };
}

/**
 * dockerode's pull resolves as soon as the engine starts streaming progress; the image is there
 * only when the stream ends, and a failure half-way (a missing layer, a registry that went away)
 * arrives as an event in that stream, not as an HTTP error.
 */
async function pullToTheEnd(docker: Docker, image: string): Promise<void> {
  const progress = await docker.pull(image);
  await new Promise<void>((resolve, reject) => {
    let failure: string | null = null;
    docker.modem.followProgress(
      progress,
      (error) => (error ? reject(error) : failure ? reject(new Error(failure)) : resolve()),
      (event: { error?: string; errorDetail?: { message?: string } }) => {
        failure ??= event.errorDetail?.message ?? event.error ?? null;
      },
    );
  });
}
