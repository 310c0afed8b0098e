/**
 * Getting a function's image onto the engine: pulled when absent (or every run, by policy), one
 * pull per image however many runs wait for it, with room made on the disk first.
 */
import type Docker from 'dockerode';
import { inspectImage } from '../docker-engine.ts';
import { type ImagePruner, retriedWhenOutOfSpace } from '../disk/index.ts';

export type PullPolicy = 'missing' | 'always';

/** What a container of the image runs unless told otherwise (its ENTRYPOINT and CMD). */
export type ImageCommand = { entrypoint: string[]; cmd: string[] };

export type ImageSupply = {
  /** Resolves once the engine has the image, with its command; rejects with the pull's failure. */
  ensure(image: string): Promise<ImageCommand>;
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
  const seenOnEngine = new Map<string, ImageCommand>();
  const remember = (image: string, info: Docker.ImageInspectInfo) => {
    const command = commandOf(info);
    seenOnEngine.set(image, command);
    return command;
  };

  return {
    async ensure(image) {
      if (pullPolicy === 'missing') {
        const seen = seenOnEngine.get(image);
        if (seen) return seen;
        const info = await inspectImage(docker, image);
        if (info) return remember(image, info);
      }
      await pullOnce(image);
      const info = await inspectImage(docker, image);
      // Removed between the pull and this inspect (a prune elsewhere): the create will say so.
      if (!info) throw new Error(`image ${image} is not on the engine after its pull`);
      return remember(image, info);
    },
    forget: (image) => seenOnEngine.delete(image),
  };
}

const commandOf = (info: Docker.ImageInspectInfo): ImageCommand => ({
  entrypoint: info.Config?.Entrypoint ? [...toList(info.Config.Entrypoint)] : [],
  cmd: info.Config?.Cmd ? [...toList(info.Config.Cmd)] : [],
});

const toList = (value: string | string[]): string[] => (typeof value === 'string' ? [value] : value);

/**
 * The command line a container runs, as the engine composes it: the image's entrypoint, then
 * the function's command, or else the image's CMD. Empty when neither the image nor the
 * function names anything to run.
 */
export function imageCommand(image: ImageCommand, command: string[] | null): string[] {
  return [...image.entrypoint, ...(command && command.length > 0 ? command : image.cmd)];
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
