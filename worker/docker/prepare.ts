/**
 * Making a container ready for one execution: created with the function's spec and the
 * lock-down, attached, started, and its agent waiting for the go. A cold start does it on the
 * request path; the pre-start pool (prestart-pool.ts) does it ahead of time. Either way no user
 * code has run yet.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { withTimeout } from '../../src/lib/timers.ts';
import { type ImagePruner, retriedWhenOutOfSpace } from '../disk/index.ts';
import { type AgentMode, type AgentSession, attachAgent } from './agent-session.ts';

export type PreparedContainer = {
  container: Docker.Container;
  session: AgentSession;
  /** performance.now() when it became ready. */
  readyAt: number;
  /** once: the agent exits after the execution; reuse: it cleans up and waits for the next. */
  mode: AgentMode;
};

/** The step that failed, for the run's reason ("container could not start: …"). */
export class PrepareError extends Error {
  override readonly name = 'PrepareError';
  constructor(
    readonly step: 'created' | 'attached' | 'started',
    override readonly cause: unknown,
  ) {
    super(step === 'started' ? 'container could not start' : `container could not be ${step}`, { cause });
  }
}

/**
 * The agent says it is ready within milliseconds of the start; this only bounds an engine that
 * started the container and then hung.
 */
const READY_TIMEOUT_MS = 10_000;

export async function prepareContainer(
  docker: Docker,
  config: Docker.ContainerCreateOptions,
  /** `mode`: the agent's, as the config's command asks for it (default once). */
  settings: { outputLimitBytes: number; pruner: ImagePruner | null; mode?: AgentMode },
): Promise<PreparedContainer> {
  const what = `from ${config.Image}`;
  let container: Docker.Container;
  try {
    container = await retriedWhenOutOfSpace(settings.pruner, `create ${what}`, () => docker.createContainer(config));
  } catch (error) {
    // Nothing to remove: a failed create leaves no container (and a name conflict means the
    // container that holds the name is not ours to remove).
    throw new PrepareError('created', error);
  }
  try {
    let session = await attachAgent(container, settings.outputLimitBytes, settings.mode).catch((error: unknown) => {
      throw new PrepareError('attached', error);
    });
    try {
      await retriedWhenOutOfSpace(
        settings.pruner,
        `start ${what}`,
        () => container.start(),
        // A failed start leaves the container created, so it can be started again, but the
        // engine closes its streams: the retry needs a new attach (seen on Docker 20.10).
        async () => {
          session.close();
          session = await attachAgent(container, settings.outputLimitBytes, settings.mode);
        },
      );
    } catch (error) {
      session.close();
      throw new PrepareError('started', error);
    }
    try {
      await withTimeout(session.ready, READY_TIMEOUT_MS);
    } catch (error) {
      session.close();
      throw new PrepareError('started', error);
    }
    return { container, session, readyAt: performance.now(), mode: settings.mode ?? 'once' };
  } catch (error) {
    await removeContainer(container);
    throw error;
  }
}

/** Tries of a removal the engine refused: the first is the one that matters, the others mend its race. */
const REMOVE_TRIES = 3;

export async function removeContainer(container: Docker.Container): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await container.remove({ force: true, v: true });
      return;
    } catch (error) {
      // Gone already: done. Else the engine went away (a labelled leftover is removed by the
      // reaper of the next worker to start, reaper.ts), or, seen on Docker 20.10, a forced
      // removal raced the container's own exit ("Could not kill running container …, cannot
      // remove - … is not running") and left it marked "Removal In Progress" for good: asked
      // again a moment later, the engine removes it.
      if ((error as { statusCode?: number }).statusCode === 404 || attempt === REMOVE_TRIES) return;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
