/**
 * The JobBus port: jobs from the api to workers, execution statuses back, and what each worker
 * says of itself (worker-report.ts). The reports ride on the bus rather than a port of their own:
 * the bus is already the one thing every worker and api shares, so no deployment needs another
 * connection or setting for them, and each adapter keeps them the way it keeps warm targets.
 * Adapters: in-process (embedded default), NATS JetStream (several processes).
 * Every adapter passes test/job-bus.contract.test.ts.
 */
import { type AttemptNumber, type WorkerStatus, attemptOf } from '../domain/execution-outcome.ts';
import type { WorkerReport } from './worker-report.ts';

export type { WorkerReport } from './worker-report.ts';

export type Job = AttemptNumber & {
  executionId: string;
  functionId: string;
  ownerId: string;
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  /**
   * Decrypted secret values for this call only, by the environment variable that receives each
   * (absent: none). The worker hands them to the container's agent with the call's go, so they
   * reach the function's process environment and nothing else: not the container's config, a
   * warm target, a label, a log line, a status, an error or a metric. A name also in `env` takes
   * this value. Never logged.
   */
  secretEnv?: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  /** The function opted in to container reuse (absent from older apis: false). */
  reuse?: boolean;
  /** The request body, base64-encoded (encodeJobStdin): it goes to the container's stdin. */
  stdin: string;
  /** ISO time after which the job must not start any more (nobody waits for it). */
  deadline: string;
  correlationId: string;
  /** ISO time the api queued it, for the worker's queue-wait measure. Absent from older apis. */
  queuedAt?: string;
};

/**
 * What names one attempt of an execution on the bus and the engine (message ids, claims,
 * container names): the execution id for the first attempt, as before retries existed.
 */
export const attemptKey = (message: { executionId: string } & AttemptNumber): string => {
  const attempt = attemptOf(message);
  return attempt > 1 ? `${message.executionId}-attempt-${attempt}` : message.executionId;
};

/** The request body as a job carries it: base64, since a job is JSON on the wire. */
export const encodeJobStdin = (bytes: Uint8Array): string => {
  let binary = '';
  // In chunks: spreading a large body into one call would pass the engine's argument limit.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
};

/** The bytes for the container's stdin, back from a job's `stdin`. */
export const decodeJobStdin = (text: string): Uint8Array => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));

/**
 * The phases of one execution on a worker: waiting in the queue (from the api's queuedAt to the
 * worker taking the job, so it includes any clock skew between their hosts), making sure the
 * image is there (a pull when it is not; an inspect the first time a worker runs it, nothing
 * after), creating and starting the container, or instead taking a pre-started one, running it
 * (the go to the exit), and removing it (after the status is on its way).
 */
export type ExecutionPhase = 'queueWait' | 'pull' | 'createStart' | 'take' | 'run' | 'remove';

/** Milliseconds spent in each phase; a phase the execution did not reach is absent. */
export type PhaseDurations = Partial<Record<ExecutionPhase, number>>;

/**
 * Optional on every status, so statuses from older workers still parse. Neither is ever
 * recorded as event data: they are for logs and metrics.
 */
type Observability = {
  /** The job's correlation id: the api's lines about this status carry the request's id. */
  correlationId?: string;
  /** On a final status: how long the worker spent in each phase (the api's /metrics shows them). */
  phases?: PhaseDurations;
};

/** A worker's status of an execution as the bus carries it: the WorkerStatus and its observability. */
export type StatusMessage = WorkerStatus & Observability;

export type JobDelivery = {
  job: Job;
  /** How many times the job was handed to a worker, this time included (1: the first). */
  deliveries: number;
  /** The job is done with: it is never delivered again, to any worker. */
  ack(): Promise<void>;
  /** Hands the job back, unstarted, for another worker (a worker shutting down). */
  release(): Promise<void>;
};

/**
 * The functions a worker holds a pre-started container for, ready now. A job for one of them
 * goes preferably to that worker (placement); what the set says is a hint, never a promise.
 */
export type WarmFunctions = {
  has(functionId: string): boolean;
  list(): string[];
  /** `listener` is called after the set changed; the returned function stops the calls. */
  onChange(listener: () => void): () => void;
};

/**
 * A function whose owner asked for pre-started containers before any call (`minWarm`): every
 * worker keeps that many ready for it, made from this spec, until the function is deleted.
 */
export type WarmTarget = Pick<Job, 'functionId' | 'ownerId' | 'image' | 'command' | 'env' | 'memoryMb' | 'reuse'> & { minWarm: number };

export type Consumer = {
  /** Stops taking new messages. Handlers already running go on; the caller waits for them. */
  stop(): Promise<void>;
};

export type StatusWatch = { close(): Promise<void> };

export interface JobBus {
  /**
   * Resolves once the job is durable, or claimed by a worker that holds a pre-started container
   * for its function (placement: such a worker is asked first, briefly). A job whose executionId
   * was already published is not queued twice (a retried publish).
   */
  publishJob(job: Job): Promise<void>;
  /**
   * Delivers jobs to `handler`, never more than `concurrency` unfinished at once: a worker pulls
   * only as many jobs as it has free container slots. A job not acked or released is delivered
   * again after an adapter-defined time. With `warm`, jobs for those functions are offered to this
   * consumer before any other.
   */
  consumeJobs(handler: (delivery: JobDelivery) => Promise<void>, options: { concurrency: number; warm?: WarmFunctions }): Consumer;
  /**
   * Tells every worker that a function's containers must go now rather than at their idle
   * expiry: the function was deleted, or another version of it is current. Best effort: not
   * durable, and a bus that is down skips it (a pool drops what was made for another version
   * when it is next asked anyway).
   */
  announceFunctionRetired(functionId: string): Promise<void>;
  /** Hears every announcement made from now on, in any process. */
  watchFunctionRetirements(handler: (functionId: string) => void): Consumer;
  /**
   * Sets the function's warm target (null: it has none any more), for every worker now and
   * later. Resolves once the target is stored; BusUnavailableError when it cannot be now.
   */
  setWarmTarget(functionId: string, target: WarmTarget | null): Promise<void>;
  /**
   * Every target set now, then every change: `handler(functionId, null)` when one is removed.
   * A watcher that starts later still hears the targets set before.
   */
  watchWarmTargets(handler: (functionId: string, target: WarmTarget | null) => void): Consumer;
  /** The functions that have a warm target now. */
  listWarmTargets(): Promise<string[]>;
  /** Resolves once the status is durable. */
  publishStatus(status: StatusMessage): Promise<void>;
  /**
   * Statuses of one execution published from now on, as they come. A waiting request opens it
   * before the job is published, so it cannot miss the answer.
   */
  watchStatuses(executionId: string, handler: (status: StatusMessage) => void): Promise<StatusWatch>;
  /**
   * Every status, each delivered to one of the consumers sharing this (durable, across api
   * processes and restarts) until its handler resolves; a handler that throws gets it again.
   */
  consumeStatuses(handler: (status: StatusMessage) => Promise<void>): Consumer;
  /**
   * The last status published for the execution, as the bus still keeps it (NATS: FAAS_RESULTS,
   * 24 h; in process: the most recent executions'), or null. The deadline sweeper asks before it
   * ends an execution as lost: a status can be stored while its delivery to a recorder lags.
   */
  lastStatus(executionId: string): Promise<StatusMessage | null>;
  /**
   * Stores the worker's report in place of its previous one, for every api to list; kept for
   * WORKER_REPORTS_KEPT_MS (the adapter's option) unless replaced. BusUnavailableError when it
   * cannot be stored now: the worker skips it and reports again at its next interval.
   */
  publishWorkerReport(report: WorkerReport): Promise<void>;
  /** The last report of every worker that reported within the time they are kept, in no order. */
  listWorkerReports(): Promise<WorkerReport[]>;
  /** Number of jobs published and not yet taken by a worker (a metric, and for tests). */
  pendingJobs(): Promise<number>;
  close(): Promise<void>;
}

/** Thrown by publishJob / publishStatus when the bus cannot make the message durable now. */
export class BusUnavailableError extends Error {
  override readonly name = 'BusUnavailableError';
}
