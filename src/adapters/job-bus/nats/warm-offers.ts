/**
 * Placement: a job goes preferably to a worker that holds a pre-started container for its
 * function. Such a worker subscribes to `faas.warm.<functionId>` in the queue group `warm` while
 * its pool has one ready; the api, before it queues a job, asks that subject (core NATS
 * request-reply, one worker of the group answers). The worker claims the job (claims.ts) and
 * answers `taken`, or answers `declined` (no free slot, the container just went). No answer
 * within WARM_OFFER_TIMEOUT_MS, no worker subscribed (NATS answers "no responders" at once), or
 * `declined`: the api queues the job on FAAS_JOBS as usual. The claim keeps a job from running
 * twice whatever the timing: a job queued after a late `taken` is dropped by whoever pulls it.
 *
 * A taken job is not on a stream, like a job a worker has pulled and claimed: if that worker dies
 * before the start, the execution fails at its deadline.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { type Job, type JobDelivery, type WarmFunctions, attemptKey } from '../../../ports/job-bus.ts';
import type { JobClaims } from './claims.ts';
import { decodeJob, encodeMessage } from './codec.ts';
import { runClaimedJob } from './job-delivery.ts';
import type { Puller } from './pull-by-slots.ts';
import { warmSubject } from './topology.ts';

/**
 * How long an api waits for a warm worker before it queues the job for all: a small part of a
 * cold start (~190 ms here), while a worker's claim takes two JetStream round trips.
 */
const WARM_OFFER_TIMEOUT_MS = 100;
const WARM_QUEUE_GROUP = 'warm';
const TAKEN = 'taken';
const DECLINED = 'declined';

/** True when a warm worker took the job; false: queue it for all. Never throws. */
export async function offerToWarmWorker(nc: NatsConnection, job: Job): Promise<boolean> {
  try {
    const reply = await nc.request(warmSubject(job.functionId), encodeMessage(job), { timeout: WARM_OFFER_TIMEOUT_MS });
    return reply.string() === TAKEN;
  } catch {
    // No worker holds it warm, none answered in time, or the connection is down.
    return false;
  }
}

export type WarmOffers = { stop(): void };

/**
 * Answers warm offers for the functions `warm` lists, in `puller`'s slots, running each taken
 * job with `handler` as a pulled one is run. `requeue` puts a job handed back on the shared queue.
 */
export function serveWarmOffers(
  nc: NatsConnection,
  warm: WarmFunctions,
  puller: Puller,
  claims: JobClaims,
  handler: (delivery: JobDelivery) => Promise<void>,
  requeue: (job: Job) => Promise<void>,
): WarmOffers {
  const subscriptions = new Map<string, Subscription>();
  let stopped = false;

  const answer = async (data: Uint8Array, respond: (text: string) => void) => {
    const job = decodeJob(data);
    if (stopped || !job || !warm.has(job.functionId)) return respond(DECLINED);
    const freeSlot = puller.reserve();
    if (!freeSlot) return respond(DECLINED);
    try {
      const claim = await claims.take(attemptKey(job)).catch(() => undefined);
      if (claim === undefined) return respond(DECLINED);
      // Claimed by another delivery of the same job: it is being handled, the api need not queue it.
      if (claim === null) return respond(TAKEN);
      respond(TAKEN);
      const requeueNow = () => requeue(job);
      // An api's offer is a first delivery: one handed back goes to the queue.
      await runClaimedJob(job, 1, claim, handler, { working: () => {}, done: () => {}, handBack: requeueNow, retryLater: requeueNow });
    } finally {
      freeSlot();
    }
  };

  const follow = () => {
    if (stopped) return;
    const wanted = new Set(warm.list());
    for (const [functionId, subscription] of subscriptions) {
      if (wanted.has(functionId)) continue;
      subscription.unsubscribe();
      subscriptions.delete(functionId);
    }
    for (const functionId of wanted) {
      if (subscriptions.has(functionId)) continue;
      try {
        const subscription = nc.subscribe(warmSubject(functionId), {
          queue: WARM_QUEUE_GROUP,
          callback: (error, msg) => {
            if (error) return;
            // A lost answer only sends the job to the shared queue, where its claim decides.
            void answer(msg.data, (text) => {
              try {
                msg.respond(text);
              } catch {}
            }).catch(() => undefined);
          },
        });
        subscriptions.set(functionId, subscription);
      } catch {
        // A closed connection, or an id that is no subject: that function is served cold.
      }
    }
  };

  const stopFollowing = warm.onChange(follow);
  follow();
  return {
    stop: () => {
      stopped = true;
      stopFollowing();
      for (const subscription of subscriptions.values()) {
        try {
          subscription.unsubscribe();
        } catch {}
      }
      subscriptions.clear();
    },
  };
}
