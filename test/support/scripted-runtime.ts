/**
 * A ContainerRuntime whose every run does what the test scripted for it, with no Docker: the
 * app suites test our own logic (the worker, the api, the recorder) against outcomes that are
 * slow, rare or impossible to provoke in a real container at will. It keeps the port's
 * promises as worker/docker-runtime.ts keeps them: onStarted once, before user code "runs";
 * an abort ends the run as `failed` with the abort's reason, `started` telling whether it had.
 */
import type { ContainerRunOutcome } from '../../src/domain/execution-outcome.ts';
import type { ContainerRunSpec, ContainerRuntime } from '../../src/ports/container-runtime.ts';

/** What a container "does" once started; `stdout` defaults to its stdin, as `cat`. */
export type Exit = { exitCode?: number; stdout?: string; stderr?: string; truncated?: boolean; oomKilled?: boolean };

export type Behaviour =
  /** Starts, then exits at once. */
  | ({ kind: 'exit' } & Exit)
  /** Starts, then hits its timeout: killed by the runtime, output so far collected. */
  | { kind: 'timeOut'; stdout?: string }
  /** The platform cannot run it (`started: false`: the image, the engine) or lost it after the start. */
  | { kind: 'fail'; reason: string; started: boolean; hostFault?: boolean }
  /** Starts, then runs until the test calls `finish` or the worker aborts it. */
  | { kind: 'hang' }
  /** Never gets as far as the start (a pull that does not end) until the worker aborts it. */
  | { kind: 'hangBeforeStart' }
  /** The runtime itself throws, before or after the start. */
  | { kind: 'throw'; message: string; afterStart: boolean };

export type ScriptedRun = {
  readonly executionId: string;
  readonly image: string;
  readonly stdin: string;
  /** The environment and the call's secrets it was given. */
  readonly env: Readonly<Record<string, string>>;
  readonly secretEnv: Readonly<Record<string, string>> | undefined;
  /** Whether the job asked for a reused container. */
  readonly reuse: boolean;
  readonly behaviour: Behaviour;
  /** Where the run is: not started yet, user code "running", or over. */
  readonly phase: 'starting' | 'running' | 'ended';
  /** What it returned (or the error it threw); undefined until it ended. */
  readonly outcome: ContainerRunOutcome | Error | undefined;
  /** Ends a `hang` run as if the container exited now. */
  finish(exit?: Exit): void;
};

export type ScriptedRuntime = ContainerRuntime & {
  /**
   * The next runs of `image` behave as these, in turn; once they are used up, a run echoes
   * (`exit`). A script for a tag also holds for its pinned references (`tag@sha256:…`, what
   * workers run); one for a pinned reference for that digest only, and first.
   */
  script(image: string, ...behaviours: Behaviour[]): void;
  /** Every run so far, in the order they began. */
  readonly runs: readonly ScriptedRun[];
  /** The first run of `executionId` (any run when omitted) in `phase` or past it; waits for one. */
  reached(phase: 'starting' | 'running' | 'ended', executionId?: string, timeoutMs?: number): Promise<ScriptedRun>;
  /**
   * Ends every run still going, as an engine going away would (`failed`), so that a test's
   * teardown never waits on a run it left hanging.
   */
  close(): void;
};

const ORDER = { starting: 0, running: 1, ended: 2 } as const;
const DURATION_MS = 7;

export function createScriptedRuntime(): ScriptedRuntime {
  const scripts = new Map<string, Behaviour[]>();
  const runs: ScriptedRun[] = [];
  const listeners = new Set<() => void>();
  let close!: () => void;
  const closed = new Promise<string>((resolve) => (close = () => resolve('the scripted runtime was closed')));
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };

  const run = async (spec: ContainerRunSpec): Promise<ContainerRunOutcome> => {
    const behaviour = scripts.get(spec.image)?.shift() ?? scripts.get(spec.image.split('@')[0]!)?.shift() ?? { kind: 'exit' };
    const stdin = new TextDecoder().decode(spec.stdin);
    let finishWith: ((exit: Exit) => void) | undefined;
    const record: ScriptedRun & { phase: ScriptedRun['phase']; outcome: ScriptedRun['outcome'] } = {
      executionId: spec.executionId,
      image: spec.image,
      stdin,
      env: spec.env,
      secretEnv: spec.secretEnv,
      reuse: spec.reuse,
      behaviour,
      phase: 'starting',
      outcome: undefined,
      finish: (exit = {}) => {
        if (finishWith === undefined) throw new Error(`run of ${spec.executionId} is not hanging (${record.phase}, ${behaviour.kind})`);
        finishWith(exit);
      },
    };
    runs.push(record);
    changed();

    const abortedOnly = new Promise<string>((resolve) => {
      const reason = () => (typeof spec.signal?.reason === 'string' ? spec.signal.reason : 'the execution was stopped by the worker');
      if (spec.signal?.aborted) resolve(reason());
      spec.signal?.addEventListener('abort', () => resolve(reason()), { once: true });
    });
    const aborted = Promise.race([abortedOnly, closed]);
    const exited = (exit: Exit): ContainerRunOutcome => ({
      kind: 'exited',
      exitCode: exit.exitCode ?? 0,
      oomKilled: exit.oomKilled ?? false,
      stdout: exit.stdout ?? stdin,
      stderr: exit.stderr ?? '',
      truncated: exit.truncated ?? false,
      durationMs: DURATION_MS,
    });

    const play = async (): Promise<ContainerRunOutcome> => {
      spec.onPhase?.('pull', 1);
      if (behaviour.kind === 'fail' && !behaviour.started) {
        return { kind: 'failed', reason: behaviour.reason, started: false, ...(behaviour.hostFault ? { hostFault: true } : {}) };
      }
      if (behaviour.kind === 'throw' && !behaviour.afterStart) throw new Error(behaviour.message);
      if (behaviour.kind === 'hangBeforeStart') return { kind: 'failed', reason: await aborted, started: false };
      if (spec.signal?.aborted) return { kind: 'failed', reason: await abortedOnly, started: false };

      spec.onPhase?.('createStart', 1);
      try {
        await spec.onStarted(`scripted-${spec.executionId}`, 'cold');
      } catch (error) {
        // As the Docker runtime does: the job could not be acked, so the function is never given its go.
        return { kind: 'failed', reason: `start could not be reported: ${(error as Error).message}`, started: false };
      }
      record.phase = 'running';
      changed();
      try {
        switch (behaviour.kind) {
          case 'exit':
            return exited(behaviour);
          case 'timeOut':
            return { kind: 'timedOut', stdout: behaviour.stdout ?? '', stderr: '', truncated: false, durationMs: spec.timeoutMs };
          case 'fail':
            return { kind: 'failed', reason: behaviour.reason, started: true };
          case 'throw':
            throw new Error(behaviour.message);
          case 'hang': {
            const finished = new Promise<Exit>((resolve) => (finishWith = resolve));
            const end = await Promise.race([finished.then((exit) => ({ exit })), aborted.then((reason) => ({ reason }))]);
            return 'exit' in end ? exited(end.exit) : { kind: 'failed', reason: end.reason, started: true };
          }
        }
      } finally {
        spec.onPhase?.('run', DURATION_MS);
        spec.onPhase?.('remove', 1);
      }
    };

    try {
      const outcome = await play();
      record.outcome = outcome;
      return outcome;
    } catch (error) {
      record.outcome = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      finishWith = undefined;
      record.phase = 'ended';
      changed();
    }
  };

  return {
    run,
    async ping() {},
    close: () => close(),
    script(image, ...behaviours) {
      scripts.set(image, [...(scripts.get(image) ?? []), ...behaviours]);
    },
    runs,
    reached(phase, executionId, timeoutMs = 5_000) {
      const find = () => runs.find((r) => (executionId === undefined || r.executionId === executionId) && ORDER[r.phase] >= ORDER[phase]);
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = find();
          if (found === undefined) return;
          cleanup();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no run ${executionId ?? ''} reached ${phase} within ${timeoutMs} ms (runs: ${JSON.stringify(runs.map((r) => [r.executionId, r.phase]))})`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}
