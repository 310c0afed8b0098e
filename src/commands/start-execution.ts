import { createActor } from 'xstate';
import { type ExecutionSnapshot, executionMachine, statusOf } from '../../actors/execution.ts';
import { DomainError } from '../domain/errors.ts';
import { type ExecutionReport, attemptField, isTerminal, reportFromStatus, reportsFromStatus } from '../domain/execution-outcome.ts';
import { type ExecutionState, STORED_STDIN_LIMIT, executionDecider } from '../domain/executions.ts';
import { type FunctionDefinition, reuseOf, runnableImageOf, versionOf } from '../domain/functions.ts';
import { executionStream } from '../domain/streams.ts';
import { BusUnavailableError, type Job, type StatusMessage, type StatusWatch, encodeJobStdin } from '../ports/job-bus.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';
import { type CallEnv, callEnvOf } from './function-env.ts';
import { type RecordReportDeps, expireExecution, recordReport, recordStatus } from './record-report.ts';
import { sealStdin } from './stored-stdin.ts';
import { type SlotDeps, reserveSlots } from './slots.ts';

export type StartDeps = RecordReportDeps & SlotDeps & Pick<CommandDeps, 'bus' | 'keys'> & ReadYourWrites;

export type StartedExecution = {
  executionId: string;
  deadline: Date;
  /** Present when the caller waits: settles with the execution's recorded final state. */
  outcome?: Promise<ExecutionState>;
};

/**
 * Takes a slot, records the execution as queued, and hands the job to the bus. A waiting
 * caller's watch is opened before the job is published, so the answer cannot slip past it.
 */
export async function startExecution(
  deps: StartDeps,
  definition: FunctionDefinition,
  stdin: Uint8Array,
  options: {
    wait: boolean;
    correlationId: string;
    /** The id an Idempotency-Key claimed for it (submit-execution.ts); a new one otherwise. */
    executionId?: string;
    /** The dead-lettered execution it runs again (commands/dead-letters.ts). */
    redriveOf?: string;
    /** Asynchronous only: where its final record goes (checked by the route, src/domain/callbacks.ts). */
    callbackUrl?: string;
  },
): Promise<StartedExecution> {
  const { clock, config, bus } = deps;
  const context = commandContext(deps, options.correlationId);
  const executionId = options.executionId ?? deps.newId();
  const queuedAt = clock.now();
  const deadline = new Date(queuedAt.getTime() + definition.timeoutMs + config.executions.graceMs);
  // The lease outlives the deadline a little, so the sweeper frees the slot before the lease does.
  const leaseUntil = new Date(deadline.getTime() + config.executions.graceMs);

  // Before anything is taken or stored: a secret that is gone refuses the call with nothing to undo.
  const callEnv = await callEnvOf(deps, definition);
  const encodedStdin = encodeJobStdin(stdin);
  const keptStdin = !options.wait && stdin.byteLength <= STORED_STDIN_LIMIT ? await sealStdin(deps.keys, definition.ownerId, executionId, encodedStdin) : undefined;
  const slotStreams = await reserveSlots(deps, definition.ownerId, executionId, leaseUntil, context);
  const queued = await handleCommand(
    deps.store,
    executionDecider,
    executionStream(executionId),
    {
      type: 'QueueExecution',
      data: {
        executionId,
        functionId: definition.functionId,
        ownerId: definition.ownerId,
        image: definition.image,
        timeoutMs: definition.timeoutMs,
        stdinBytes: stdin.byteLength,
        functionVersion: versionOf(definition),
        ...(definition.imageDigest ? { imageDigest: definition.imageDigest } : {}),
        queuedAt: queuedAt.toISOString(),
        deadline: deadline.toISOString(),
        slotStreams,
        // What a later attempt or a redrive needs: only an execution nobody waits for has either.
        ...(options.wait
          ? {}
          : {
              async: true,
              ...(definition.retry ? { retry: definition.retry } : {}),
              ...(keptStdin === undefined ? {} : { stdin: keptStdin }),
            }),
        ...(options.redriveOf ? { redriveOf: options.redriveOf } : {}),
        ...(options.callbackUrl && !options.wait ? { callbackUrl: options.callbackUrl } : {}),
      },
    },
    context,
  );

  let waiter: Awaited<ReturnType<typeof watchOutcome>> | undefined;
  try {
    // Inside the try: a bus that cannot open the watch cannot take the job either (503, not 500).
    if (options.wait) waiter = await watchOutcome(deps, executionId, deadline, options.correlationId);
    await bus.publishJob(jobOf(definition, callEnv, { executionId, attempt: 1, stdin: encodedStdin, deadline, queuedAt, correlationId: options.correlationId }));
  } catch (error) {
    await waiter?.close();
    if (!(error instanceof BusUnavailableError)) throw error;
    // No durable job: the execution ends here and says why; recording its end frees its slots.
    await recordReport(
      deps,
      executionId,
      { type: 'FAILED', reason: 'the job queue is unavailable', at: clock.now().toISOString() },
      options.correlationId,
    );
    throw new DomainError('JobBusUnavailable', 'the job queue is unavailable; try again shortly', 5);
  }
  deps.log('info', 'execution queued', {
    executionId,
    functionId: definition.functionId,
    correlationId: options.correlationId,
    wait: options.wait,
  });
  await awaitProjections(deps, queued.position);
  return { executionId, deadline, outcome: waiter?.outcome };
}

/** The job of one attempt of an execution of `definition`, run with `callEnv`. */
export const jobOf = (
  definition: FunctionDefinition,
  { env, secretEnv }: CallEnv,
  attempt: { executionId: string; attempt: number; stdin: string; deadline: Date; queuedAt: Date; correlationId: string },
): Job => ({
  executionId: attempt.executionId,
  ...attemptField(attempt.attempt),
  functionId: definition.functionId,
  ownerId: definition.ownerId,
  image: runnableImageOf(definition),
  command: definition.command,
  env,
  ...(secretEnv ? { secretEnv } : {}),
  timeoutMs: definition.timeoutMs,
  memoryMb: definition.memoryMb,
  reuse: reuseOf(definition),
  stdin: attempt.stdin,
  deadline: attempt.deadline.toISOString(),
  correlationId: attempt.correlationId,
  queuedAt: attempt.queuedAt.toISOString(),
});

/**
 * The live execution actor: statuses from the bus drive it, and its `after` deadline turns
 * silence into failed (never started) or timedOut. Its final state is then recorded (the
 * recorder may have done so already: recording is idempotent) and read back from the stream,
 * so the answer is exactly what is stored.
 */
export async function watchOutcome(deps: StartDeps, executionId: string, deadline: Date, correlationId: string) {
  const actor = createActor(executionMachine, { input: { executionId, deadline: deadline.toISOString() } });
  let lastStatus: StatusMessage | undefined;
  let lastReport: ExecutionReport | undefined;
  let startStatus: StatusMessage | undefined;
  const finished = new Promise<ExecutionSnapshot>((resolve) => {
    actor.subscribe((snapshot) => {
      if (isTerminal(statusOf(snapshot))) resolve(snapshot);
    });
  });
  actor.start();
  let watch: StatusWatch;
  try {
    watch = await deps.bus.watchStatuses(executionId, (status) => {
      lastStatus = status;
      // A final status may carry its start: the machine hears both, in order.
      for (const report of reportsFromStatus(status)) actor.send(report);
      lastReport = reportFromStatus(status);
      if (lastReport.type === 'STARTED') startStatus = status;
    });
  } catch (error) {
    actor.stop();
    throw error;
  }

  const outcome = finished.then(async (snapshot) => {
    actor.stop();
    await watch.close();
    const heardOutcome = lastReport !== undefined && lastReport.type !== 'STARTED' && snapshot.context.finishedAt === lastReport.at;
    if (!heardOutcome) return expireExecution(deps, executionId, deadline, correlationId);
    const recorded = await recordStatus(deps, lastStatus!, correlationId);
    // The start came just before the outcome (its publish was retried) and the recorder has not
    // recorded it yet: the answer says when it started all the same.
    const startMissing = recorded.status === 'present' && recorded.snapshot.context.startedAt === null;
    return startMissing && startStatus ? recordStatus(deps, startStatus, correlationId) : recorded;
  });
  return {
    // Read your writes: the history the caller reads next holds this outcome, whichever api
    // recorded it (another's recorder may have, and this api's read models learn it by polling).
    outcome: outcome.then(async (state) => {
      const [head] = await deps.store.readStream(executionStream(executionId), { direction: 'backwards', maxCount: 1 });
      await awaitProjections(deps, head?.position ?? null);
      return state;
    }),
    close: async () => {
      actor.stop();
      await watch.close();
    },
  };
}
