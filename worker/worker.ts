import { settlesWithin } from '../src/lib/timers.ts';
import { type StartNotice, attemptField, attemptOf, statusFromRun } from '../src/domain/execution-outcome.ts';
import type { ContainerRuntime } from '../src/ports/container-runtime.ts';
import {
  type ExecutionPhase,
  type JobBus,
  type JobDelivery,
  type PhaseDurations,
  type StatusMessage,
  type WarmFunctions,
  decodeJobStdin,
} from '../src/ports/job-bus.ts';
import { type Logger, describeError } from '../src/ports/logger.ts';
import { type Metrics, measureWorker, observePhase } from '../src/metrics/metrics.ts';
import type { ReapResult } from './docker/index.ts';

/**
 * Removes the containers no worker will finish and reports their executions through `report`
 * (reapOrphans in worker/docker, over Docker). The worker decides when it runs and what is alive.
 */
export type OrphanReaper = (scope: {
  /** Asked after the containers are listed, so an execution that starts meanwhile is not in the list. */
  isInFlight(executionId: string): boolean;
  report(executionId: string, attempt: number): Promise<void>;
}) => Promise<ReapResult>;

export type WorkerOptions = {
  workerId: string;
  concurrency: number;
  now?: () => Date;
  /**
   * How long `stop()` lets running executions go on before it kills them. Default: no limit.
   */
  drainTimeoutMs?: number;
  /** Run once at start and then every `intervalMs`, until `stop()`. */
  reaper?: { reap: OrphanReaper; intervalMs: number };
  /** Where the worker's own phase durations and executions in flight go; none: not measured. */
  metrics?: Metrics;
  /** Functions the runtime holds a pre-started container for: their jobs come here first. */
  warm?: WarmFunctions;
};

export type RunningWorker = {
  /**
   * Stops taking jobs, lets the executions in flight finish for up to the drain timeout, kills
   * the rest (reported failed with SHUTDOWN_REASON), and resolves once every final status is
   * published. Calling it again returns the same promise.
   */
  stop(): Promise<void>;
  /** Executions in flight now. */
  readonly inFlight: number;
};

/** The reason of an execution killed because its worker stopped before it finished. */
export const SHUTDOWN_REASON = 'worker shut down before the execution finished';
/** The reason of an execution whose container was removed by a reaper: nobody would finish it. */
export const WORKER_LOST_REASON = 'worker lost';

const STATUS_RETRY_MS = 500;
/**
 * A job this worker's host could not start (hostFault) goes back to the queue until its
 * delivery this many; then it fails here. Each such slot rests meanwhile, so that the job finds
 * another worker, if there is one, before it comes back.
 */
const HOST_FAULT_DELIVERIES = 4;
const HOST_FAULT_PAUSE_MS = 1_000;
/**
 * A run that ends within this of its start reports the start in its final status, so that the
 * api records both with one commit instead of two. The first of the two landed while the
 * function ran: in one process its fsync stalled the loop that reads the function's exit, by
 * 1–2 ms of a pre-started call's 15. A longer run reports its start once this has passed: the
 * record says "running" that much later.
 */
const START_HOLD_MS = 20;
const STATUS_RETRY_LIMIT_MS = 5 * 60_000;

/**
 * Takes jobs from the bus, no more than it has container slots, and runs each in a fresh
 * container. The job is acked the moment its container starts, so user code runs at most once;
 * a worker that dies after that leaves its containers to the reaper of the next worker to start.
 */
export function startWorker(bus: JobBus, runtime: ContainerRuntime, log: Logger, options: WorkerOptions): RunningWorker {
  const now = options.now ?? (() => new Date());
  const running = new Set<Promise<void>>();
  /** By executionId, from the job's arrival until its final status is published. */
  const inFlight = new Map<string, AbortController>();

  const publish = async (status: StatusMessage) => {
    // A status is the only trace of what ran: keep trying through a broker outage.
    const giveUpAt = Date.now() + STATUS_RETRY_LIMIT_MS;
    for (;;) {
      try {
        return await bus.publishStatus(status);
      } catch (error) {
        if (Date.now() > giveUpAt) throw error;
        await new Promise((resolve) => setTimeout(resolve, STATUS_RETRY_MS));
      }
    }
  };

  const execute = async (delivery: JobDelivery, signal: AbortSignal) => {
    const { job } = delivery;
    const attempt = attemptField(attemptOf(job));
    const fields = { executionId: job.executionId, ...attempt, correlationId: job.correlationId, workerId: options.workerId };
    const phases: PhaseDurations = {};
    const phaseEnded = (phase: ExecutionPhase, ms: number) => {
      phases[phase] = ms;
      if (options.metrics) observePhase(options.metrics.workerPhaseSeconds, phase, ms);
    };
    const takenAt = now().getTime();
    // Across hosts this includes the clock skew between the api's host and this one.
    const queuedAt = job.queuedAt === undefined ? Number.NaN : Date.parse(job.queuedAt);
    if (Number.isFinite(queuedAt)) phaseEnded('queueWait', Math.max(0, takenAt - queuedAt));
    log('info', 'job received', { ...fields, image: job.image, queueWaitMs: phases.queueWait ?? null });
    if (Date.parse(job.deadline) <= takenAt) {
      // Nobody waits for it any more, and the api has already failed it.
      await delivery.ack();
      log('warn', 'job expired before it could start', fields);
      return;
    }
    let acked = false;
    let startedPublished: Promise<unknown> | undefined;
    /** The start, held for the final status while the run is young (see START_HOLD_MS). */
    let heldStart: StartNotice | undefined;
    let startHold: ReturnType<typeof setTimeout> | undefined;
    const outcome = await runtime.run({
      executionId: job.executionId,
      ...attempt,
      functionId: job.functionId,
      ownerId: job.ownerId,
      image: job.image,
      command: job.command,
      env: job.env,
      ...(job.secretEnv ? { secretEnv: job.secretEnv } : {}),
      stdin: decodeJobStdin(job.stdin),
      timeoutMs: job.timeoutMs,
      memoryMb: job.memoryMb,
      reuse: job.reuse === true,
      correlationId: job.correlationId,
      signal,
      onPhase: (phase, ms) => {
        phaseEnded(phase, ms);
        if (phase === 'pull') log('info', 'image ready', { ...fields, image: job.image, pullMs: ms });
      },
      onStarted: async (containerId, start) => {
        acked = true;
        await delivery.ack();
        log('info', 'execution started', { ...fields, containerId, start, createStartMs: phases.createStart ?? null });
        heldStart = { at: now().toISOString(), workerId: options.workerId, containerId, start };
        startHold = setTimeout(() => {
          const notice = heldStart!;
          heldStart = undefined;
          // Not waited for: the function runs on, and the final status waits for this one, so
          // the two keep their order. Should it never get through, the final one says it all.
          startedPublished = publish({ type: 'started', executionId: job.executionId, ...attempt, ...notice, correlationId: job.correlationId }).catch(
            (error: unknown) => log('warn', 'start could not be reported', { ...fields, ...describeError(error) }),
          );
        }, START_HOLD_MS);
      },
    });
    clearTimeout(startHold);
    if (!acked && signal.aborted && outcome.kind === 'failed' && !outcome.started) {
      // Stopped before user code ran: another worker (or this one, restarted) can still run it.
      await delivery.release();
      log('info', 'job handed back unstarted at shutdown', fields);
      return;
    }
    if (!acked && outcome.kind === 'failed' && outcome.hostFault && delivery.deliveries < HOST_FAULT_DELIVERIES) {
      // This host cannot run anything now (its engine is gone, its disk is full), which says
      // nothing of the job: it goes back at once, for another worker, and this slot waits a while
      // before it takes another, so a broken worker does not swallow the queue. With no other
      // worker, the job comes back here and fails at its last delivery, saying why.
      await delivery.release();
      log('warn', 'job handed back: this worker cannot run it now', { ...fields, reason: outcome.reason, deliveries: delivery.deliveries });
      await settlesWithin(new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })), HOST_FAULT_PAUSE_MS);
      return;
    }
    // A platform failure before start is final too: the same job would fail the same way.
    if (!acked) await delivery.ack();
    const status = statusFromRun(outcome, job, now());
    await startedPublished;
    await publish({ ...status, ...(heldStart ? { started: heldStart } : {}), correlationId: job.correlationId, phases });
    const exitCode = outcome.kind === 'exited' ? outcome.exitCode : null;
    const ended = { ...fields, outcome: status.type, exitCode, phases };
    if (status.type === 'failed' && outcome.kind === 'failed') {
      // The platform's own failure (image, engine, shutdown): the reason is what an operator needs.
      log('warn', 'execution failed', { ...ended, reason: status.reason });
    } else {
      log('info', 'execution finished', ended);
    }
  };

  const consumer = bus.consumeJobs(
    (delivery) => {
      const { executionId } = delivery.job;
      const abort = new AbortController();
      inFlight.set(executionId, abort);
      const task = execute(delivery, abort.signal)
        .catch((error: unknown) => log('error', 'execution could not be reported', { executionId, ...describeError(error) }))
        .finally(() => {
          // A redelivered job may be running under the same id by now: leave its entry alone.
          if (inFlight.get(executionId) === abort) inFlight.delete(executionId);
        });
      running.add(task);
      return task.finally(() => running.delete(task));
    },
    { concurrency: options.concurrency, warm: options.warm },
  );
  if (options.metrics) measureWorker(options.metrics, { inFlight: () => inFlight.size });

  const reaping = reapPeriodically(options.reaper, {
    isInFlight: (executionId) => inFlight.has(executionId),
    // One attempt: if the bus is down, the api's deadline sweeper still ends the execution.
    report: (executionId, attempt) =>
      bus.publishStatus({ type: 'failed', executionId, ...attemptField(attempt), at: now().toISOString(), reason: WORKER_LOST_REASON }),
    log,
    workerId: options.workerId,
  });

  const drain = async () => {
    reaping.pause();
    await consumer.stop();
    const everyRun = Promise.all(running);
    const drained = await settlesWithin(everyRun, options.drainTimeoutMs ?? Number.POSITIVE_INFINITY);
    if (!drained) {
      log('warn', 'drain timeout passed: killing the executions still running', { workerId: options.workerId, executions: [...inFlight.keys()] });
      for (const abort of inFlight.values()) abort.abort(SHUTDOWN_REASON);
      // Each aborted run publishes its own failed status before it settles.
      await everyRun;
    }
    await reaping.settled();
  };
  let stopping: Promise<void> | undefined;

  return {
    stop() {
      stopping ??= drain();
      return stopping;
    },
    get inFlight() {
      return running.size;
    },
  };
}

type Reaping = {
  /** No pass starts after this. */
  pause(): void;
  /** Resolves when the pass under way, if any, is over. */
  settled(): Promise<void>;
};

/**
 * Runs the reaper at once and then on a timer, one pass at a time: a pass slower than the
 * interval is not stacked on.
 */
function reapPeriodically(
  reaper: WorkerOptions['reaper'],
  context: { isInFlight(executionId: string): boolean; report(executionId: string, attempt: number): Promise<void>; log: Logger; workerId: string },
): Reaping {
  if (!reaper) return { pause: () => {}, settled: async () => {} };
  const { log, workerId, isInFlight, report } = context;
  let pass: Promise<void> | null = null;

  const reapOnce = async () => {
    try {
      const { removed, problems } = await reaper.reap({ isInFlight, report });
      for (const { containerId, executionId, why, reported } of removed) {
        log('warn', 'orphan container removed', { workerId, containerId, executionId, why, reported });
      }
      for (const { containerId, executionId, step, error } of problems) {
        log('warn', step === 'remove' ? 'orphan container could not be removed' : 'reaped execution could not be reported', {
          workerId,
          containerId,
          executionId,
          ...describeError(error),
        });
      }
    } catch (error) {
      log('warn', 'orphan reaping failed', { workerId, ...describeError(error) });
    }
  };
  const startPass = () => {
    pass ??= reapOnce().finally(() => (pass = null));
  };

  startPass();
  const timer = setInterval(startPass, reaper.intervalMs);
  return {
    pause: () => clearInterval(timer),
    settled: async () => {
      await pass;
    },
  };
}
