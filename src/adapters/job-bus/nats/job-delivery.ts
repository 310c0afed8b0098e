/** What a worker does with one job message: decode it, claim it, and run it under the claim. */
import type { JsMsg } from '@nats-io/jetstream';
import { BusUnavailableError, type Job, type JobDelivery } from '../../../ports/job-bus.ts';
import { retryDelayMs } from '../retry-delay.ts';
import { errorMessage } from '../../../lib/error-message.ts';
import { bestEffort } from './broker-calls.ts';
import type { HeldClaim, JobClaims } from './claims.ts';
import { decodeJob } from './codec.ts';
import { jobAckWaitMs } from './topology.ts';

/** While a handler runs, the server hears this often that the job is still being worked on. */
const workingEveryMs = jobAckWaitMs / 3;

export async function handleJobMessage(msg: JsMsg, claims: JobClaims, handler: (delivery: JobDelivery) => Promise<void>) {
  const job = decodeJob(msg.data);
  if (!job) return bestEffort(() => msg.term());
  let claim: HeldClaim | null;
  try {
    claim = await claims.take(job.executionId);
  } catch {
    // The broker stayed away: the job comes back later, to this worker or another.
    return bestEffort(() => msg.nak(retryDelayMs(msg.info.deliveryCount)));
  }
  // Run, or being run, by another delivery of the same job: never a second time.
  if (claim === null) return bestEffort(() => msg.term());
  await runJobHandler(msg, job, handler, claim);
}

/**
 * Runs one job delivery under its claim. The slot stays taken until the handler settles; a
 * handler that settles without acking or releasing gets the job back after a back-off (nak with
 * delay), its claim given up so that the next delivery can take it.
 */
async function runJobHandler(msg: JsMsg, job: Job, handler: (delivery: JobDelivery) => Promise<void>, claim: HeldClaim) {
  let settled = false;
  const working = setInterval(() => {
    if (!settled) bestEffort(() => msg.working());
  }, workingEveryMs);
  const settle = () => {
    settled = true;
    clearInterval(working);
  };
  const delivery: JobDelivery = {
    job,
    ack: async () => {
      if (settled) return;
      settle();
      // Not waited for: the claim, not the ack, keeps the job from running twice. A lost ack
      // (the broker restarting) only means the job is offered again and dropped for its claim.
      bestEffort(() => msg.ack());
    },
    release: async () => {
      if (settled) return;
      settle();
      try {
        await claim.release();
        msg.nak();
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
      bestEffort(() => msg.nak(retryDelayMs(msg.info.deliveryCount)));
    }
  }
}
