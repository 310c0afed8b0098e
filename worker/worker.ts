import type { ContainerRunOutcome, ContainerRuntime } from '../src/ports/container-runtime.ts';
import type { Job, JobBus, JobDelivery, StatusMessage } from '../src/ports/job-bus.ts';
import type { Logger } from '../src/log.ts';
import { describeError } from '../src/log.ts';

export type WorkerOptions = {
  workerId: string;
  concurrency: number;
  now?: () => Date;
};

export type RunningWorker = {
  /** Stops taking jobs and waits for the executions in flight. */
  stop(): Promise<void>;
  /** Executions in flight now. */
  readonly inFlight: number;
};

const STATUS_RETRY_MS = 500;
const STATUS_RETRY_LIMIT_MS = 5 * 60_000;

/**
 * Takes jobs from the bus, no more than it has container slots, and runs each in a fresh
 * container. The job is acked the moment its container starts, so user code runs at most once;
 * a worker that dies after that leaves the execution to its deadline.
 */
export function startWorker(bus: JobBus, runtime: ContainerRuntime, log: Logger, options: WorkerOptions): RunningWorker {
  const now = options.now ?? (() => new Date());
  const running = new Set<Promise<void>>();

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

  const execute = async (delivery: JobDelivery) => {
    const { job } = delivery;
    const fields = { executionId: job.executionId, correlationId: job.correlationId, workerId: options.workerId };
    if (Date.parse(job.deadline) <= now().getTime()) {
      // Nobody waits for it any more, and the api has already failed it.
      await delivery.ack();
      log('warn', 'job expired before it could start', fields);
      return;
    }
    let acked = false;
    const outcome = await runtime.run({
      executionId: job.executionId,
      image: job.image,
      command: job.command,
      env: job.env,
      stdin: fromBase64(job.stdin),
      timeoutMs: job.timeoutMs,
      memoryMb: job.memoryMb,
      correlationId: job.correlationId,
      onStarted: async (containerId) => {
        acked = true;
        await delivery.ack();
        await publish({
          type: 'started',
          executionId: job.executionId,
          at: now().toISOString(),
          workerId: options.workerId,
          containerId,
        });
      },
    });
    // A platform failure before start is final too: the same job would fail the same way.
    if (!acked) await delivery.ack();
    await publish(statusOf(job, outcome, now()));
    log('info', 'execution finished', { ...fields, outcome: outcome.kind });
  };

  const consumer = bus.consumeJobs(
    (delivery) => {
      const task = execute(delivery).catch((error: unknown) =>
        log('error', 'execution could not be reported', { executionId: delivery.job.executionId, ...describeError(error) }),
      );
      running.add(task);
      return task.finally(() => running.delete(task));
    },
    { concurrency: options.concurrency },
  );

  return {
    async stop() {
      await consumer.stop();
      await Promise.all(running);
    },
    get inFlight() {
      return running.size;
    },
  };
}

export function statusOf(job: Job, outcome: ContainerRunOutcome, at: Date): StatusMessage {
  const base = { executionId: job.executionId, at: at.toISOString() };
  switch (outcome.kind) {
    case 'exited': {
      const { kind: _, oomKilled, exitCode, ...output } = outcome;
      if (oomKilled) {
        return { type: 'failed', ...base, ...output, exitCode, reason: `out of memory: the function exceeded its ${job.memoryMb} MB` };
      }
      return exitCode === 0
        ? { type: 'succeeded', ...base, ...output, exitCode }
        : { type: 'failed', ...base, ...output, exitCode, reason: `exited with code ${exitCode}` };
    }
    case 'timedOut': {
      const { kind: _, ...output } = outcome;
      return { type: 'timedOut', ...base, ...output, exitCode: null };
    }
    case 'failed':
      return { type: 'failed', ...base, reason: outcome.reason };
  }
}

const fromBase64 = (text: string) => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
