/**
 * The ContainerRuntime port: run one execution in a fresh, locked-down container.
 * Adapter: Docker through dockerode (worker/docker).
 */
import type { AttemptNumber, ContainerRunOutcome, StartKind } from '../domain/execution-outcome.ts';
import type { ExecutionPhase } from './job-bus.ts';

/** The phases a container runtime measures (the queue wait is the worker's). */
export type ContainerPhase = Exclude<ExecutionPhase, 'queueWait'>;

export type ContainerRunSpec = AttemptNumber & {
  executionId: string;
  /** With the owner, what a pre-started container is kept for: it serves only this function's executions. */
  functionId: string;
  ownerId: string;
  image: string;
  /** Overrides the image's command; null keeps the image's own. */
  command: string[] | null;
  env: Record<string, string>;
  /**
   * The call's secrets (Job.secretEnv): set in the function's process for this execution only,
   * over `env` by the same name; never in the container's config, so a pre-started or reused
   * container serves them too. Never logged.
   */
  secretEnv?: Record<string, string>;
  stdin: Uint8Array;
  timeoutMs: number;
  memoryMb: number;
  /** Its container may serve further executions of the function, cleaned in between (reuse). */
  reuse: boolean;
  correlationId: string;
  /**
   * Aborting kills the container, whatever it is doing; the outcome is then `failed` with the
   * abort's reason (a worker shutting down past its drain timeout).
   */
  signal?: AbortSignal;
  /**
   * Called once, right after the container started and before it is waited on: the worker acks
   * its job there, so user code runs at most once. `start` says whether the container was
   * pre-started for it or created on the spot.
   */
  onStarted(containerId: string, start: StartKind): Promise<void>;
  /** Called as each phase ends, with its duration in ms; for logs and metrics, never awaited. */
  onPhase?(phase: ContainerPhase, ms: number): void;
};

export interface ContainerRuntime {
  /** The run's outcome, in the shape src/domain/execution-outcome.ts translates onward. */
  run(spec: ContainerRunSpec): Promise<ContainerRunOutcome>;
  /** Resolves when the engine answers. */
  ping(): Promise<void>;
}
