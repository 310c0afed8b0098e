/**
 * What a worker does with one job: decode it, claim it, and run it under the claim. A job comes
 * from the shared queue (a JetStream message) or straight from an api as a warm offer
 * (warm-offers.ts); both run the same way, each telling its source what became of the job.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { BusUnavailableError, type Job, type JobDelivery, attemptKey } from '../../../ports/job-bus.ts';
import { retryDelayMs } from '../retry-delay.ts';
import { errorMessage } from '../../../lib/error-message.ts';
import { bestEffort } from './broker-calls.ts';
import type { HeldClaim, JobClaims } from './claims.ts';
import { decodeJob } from './codec.ts';
import { jobAckWaitMs } from './topology.ts';

/** While a handler runs, the server hears this often that the job is still being worked on. */
const workingEveryMs = jobAckWaitMs / 3;

/** Where a job came from, and how to tell it what became of the job. */
export type JobSource = {
  /** The job is still being worked on (keeps a message from being offered again). */
  working(): void;
  /** Done with: never offered again. */
  done(): void;
  /** Handed back unstarted, for another worker now. */
  handBack(): Promise<void>;
  /** The handler settled without saying: offered again after a back-off. */
  retryLater(): Promise<void>;
};

export async function handleJobMessage(msg: JsMsg, claims: JobClaims, handler: (delivery: JobDelivery) => Promise<void>) {
  const job = decodeJob(msg.data);
  if (!job) return bestEffort(() => msg.term());
  let claim: HeldClaim | null;
  try {
    claim = await claims.take(attemptKey(job));
  } catch {
    // The broker stayed away: the job comes back later, to this worker or another.
    return bestEffort(() => msg.nak(retryDelayMs(msg.info.deliveryCount)));
  }
  // Run, or being run, by another delivery of the same job: never a second time.
  if (claim === null) return bestEffort(() => msg.term());
  await runClaimedJob(job, msg.info.deliveryCount, claim, handler, {
    working: () => bestEffort(() => msg.working()),
    done: () => bestEffort(() => msg.ack()),
    handBack: async () => msg.nak(),
    retryLater: async () => bestEffort(() => msg.nak(retryDelayMs(msg.info.deliveryCount))),
  });
}

/**
 * Runs one job under its claim. The slot stays taken until the handler settles; a handler that
 * settles without acking or releasing gets the job back after a back-off, its claim given up so
 * that the next delivery can take it.
 */
export async function runClaimedJob(job: Job, deliveries: number, claim: HeldClaim, handler: (delivery: JobDelivery) => Promise<void>, source: JobSource) {
  let settled = false;
  const working = setInterval(() => {
    if (!settled) source.working();
  }, workingEveryMs);
  const settle = () => {
    settled = true;
    clearInterval(working);
  };
  const delivery: JobDelivery = {
    job,
    deliveries,
    ack: async () => {
      if (settled) return;
      settle();
      // Not waited for: the claim, not the ack, keeps the job from running twice. A lost ack
      // (the broker restarting) only means the job is offered again and dropped for its claim.
      source.done();
    },
    release: async () => {
      if (settled) return;
      settle();
      try {
        await claim.release();
        await source.handBack();
      } catch (error) {
        // Still claimed: when the server offers the job again it is dropped, and the execution
        // fails at its deadline, as it would with a worker that died.
        throw new BusUnavailableError(`NATS did not take back ${job.executionId}: ${errorMessage(error)}`, { cause: error });
      }
    },
  };
  try {
    await handler(delivery);
  } catch {
    // Treated like a handler that returned without settling.
  } finally {
    if (!settled) {
      settle();
      await claim.release().catch(() => undefined);
      await source.retryLater().catch(() => undefined);
    }
  }
}
