/**
 * The JobBus over NATS JetStream on a connection its caller made (connect.ts makes one).
 *
 * - Jobs are pulled by slots (pull-by-slots.ts) from the shared consumer `workers` and run only
 *   under a claim (claims.ts), so a job the server offers again never runs twice.
 * - A job for a function some worker holds warm is offered to that worker first (warm-offers.ts).
 * - A deleted function is announced on `faas.functions.deleted` (core NATS, best effort).
 * - Statuses are published to FAAS_RESULTS. Waiting requests hear them on a core subscription;
 *   the durable pull consumer `recorder`, shared by every api, records each one.
 * - Each worker's last report is in the key-value bucket FAAS_WORKERS (worker-reports.ts).
 * - The servers must allow payloads of a few MB (`max_payload: 8MB`): a status carries up to
 *   1 MiB of stdout and 1 MiB of stderr.
 */
import { type JetStreamClient, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { errors, type NatsConnection } from '@nats-io/nats-core';
import { BusUnavailableError, type Consumer, type Job, type JobBus, type StatusWatch, attemptKey } from '../../../ports/job-bus.ts';
import { retryDelayMs } from '../retry-delay.ts';
import { errorMessage } from '../../../lib/error-message.ts';
import { withTimeout } from '../../../lib/timers.ts';
import { bestEffort, publishTimeoutMs, sleep, type WhileConnected } from './broker-calls.ts';
import { jobClaims } from './claims.ts';
import { decodeStatus, encodeMessage } from './codec.ts';
import { handleJobMessage } from './job-delivery.ts';
import { type Puller, pullBySlots } from './pull-by-slots.ts';
import { ensureTopology, functionDeletedSubject, jobsStream, jobsSubject, recorderDurable, resultsStream, resultsSubject, workersDurable } from './topology.ts';
import { offerToWarmWorker, serveWarmOffers } from './warm-offers.ts';
import { openWarmTargetsBucket, warmTargetStore } from './warm-targets.ts';
import { openWorkerReportsBucket, workerReportStore } from './worker-reports.ts';
import { WORKER_REPORTS_KEPT_MS } from '../../../ports/worker-report.ts';

/** Statuses are recorded one at a time per api process, which keeps one execution's in order. */
const statusConcurrency = 1;
const closeTimeoutMs = 5_000;

export type NatsJobBusTopology = {
  /** Stream replicas: 1 for a single server, 3 on a JetStream cluster. Default 1. */
  replicas?: number;
  /**
   * The max age of FAAS_WORKERS when this process creates it (tests shorten it); default
   * WORKER_REPORTS_KEPT_MS. A bucket already there keeps its own.
   */
  workerReportsKeptMs?: number;
};

/**
 * The bus over `nc`, once its streams and consumers are there. From then on the bus owns the
 * connection and closes it on close(). It never reconnects by itself: `nc` should keep trying
 * for ever, as connectNatsJobBus's does; meanwhile publishes fail and pulls are renewed after.
 */
/** How long a publish goes on meeting a stream with no leader before it is refused (503). */
const ELECTION_RIDE_THROUGH_MS = 10_000;

/** nats.js reports "no responders" to a JetStream publish as its own error, caused by the core one. */
const isNoResponders = (error: unknown): boolean =>
  error instanceof errors.NoRespondersError ||
  (error instanceof errors.RequestError && error.isNoResponders()) ||
  (error instanceof Error && error.cause !== undefined && error.cause !== error && isNoResponders(error.cause));

export async function openNatsJobBus(nc: NatsConnection, { replicas = 1, workerReportsKeptMs = WORKER_REPORTS_KEPT_MS }: NatsJobBusTopology = {}): Promise<JobBus> {
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, replicas);
  const js = jetstream(nc, { timeout: publishTimeoutMs });
  const buckets = { warmTargets: await openWarmTargetsBucket(js, replicas), workerReports: await openWorkerReportsBucket(js, replicas, workerReportsKeptMs) };
  return createNatsJobBus(nc, js, jsm, buckets);
}

function createNatsJobBus(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, buckets: { warmTargets: KV; workerReports: KV }): JobBus {
  let closed = false;
  let connected = true;
  const consumers = new Set<Puller>();
  /** Publishes waiting for their PubAck, failed as soon as the connection drops. */
  const awaitingAck = new Set<(error: Error) => void>();

  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        connected = false;
        for (const fail of awaitingAck) fail(new Error('the connection to NATS dropped'));
      } else if (status.type === 'reconnect') {
        connected = true;
        for (const consumer of consumers) consumer.repull();
      }
    }
  })().catch(() => undefined);

  const ensureAvailable = () => {
    if (closed) throw new BusUnavailableError('the NATS job bus is closed');
    // Fail at once rather than queue behind a reconnect: the api answers 503 and the client retries.
    if (!connected) throw new BusUnavailableError('NATS is unreachable');
  };

  /** Fails a request at once when the connection drops: otherwise it would wait out its whole timeout. */
  const whileConnected: WhileConnected = async (request) => {
    ensureAvailable();
    let fail: (error: Error) => void = () => undefined;
    const dropped = new Promise<never>((_, reject) => (fail = reject));
    awaitingAck.add(fail);
    try {
      return await Promise.race([request(), dropped]);
    } finally {
      awaitingAck.delete(fail);
    }
  };

  const publishDurably = async (subject: string, data: Uint8Array, msgID: string) => {
    ensureAvailable();
    const since = Date.now();
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          // Giving up early when the connection drops is safe: the msgID makes the caller's retry a
          // no-op if the message was stored.
          return void (await whileConnected(() => js.publish(subject, data, { msgID, timeout: publishTimeoutMs })));
        } catch (error) {
          // A stream with no leader answers no one: on a cluster, while the nodes left elect a new
          // one after its leader died (4.5 s measured, test/reliability/nats-cluster.test.ts).
          // Publishing again rides through it, the msgID making a repeat harmless.
          if (!isNoResponders(error) || Date.now() - since >= ELECTION_RIDE_THROUGH_MS) throw error;
          await sleep(Math.min(100 * 2 ** attempt, 1_000));
        }
      }
    } catch (error) {
      // Too large for max_payload is a configuration fault, not an outage: retrying will not help.
      if (error instanceof errors.InvalidArgumentError) throw error;
      throw new BusUnavailableError(`NATS did not store the message on ${subject}: ${errorMessage(error)}`, { cause: error });
    }
  };

  const claims = jobClaims(js, jsm, whileConnected);
  const warmTargets = warmTargetStore(buckets.warmTargets, whileConnected, () => closed);
  const workerReports = workerReportStore(buckets.workerReports, jsm, whileConnected);
  /** Watches that are not pulls: stopped on close too. */
  const watches = new Set<Consumer>();
  /** Kept in `set` until stopped, so that close() stops what is still running. */
  const keptIn = <C extends Consumer>(set: Set<C>, consumer: C): Consumer => {
    set.add(consumer);
    return {
      stop: async () => {
        set.delete(consumer);
        await consumer.stop();
      },
    };
  };
  const track = (consumer: Puller) => keptIn(consumers, consumer);
  const watching = (watch: Consumer) => keptIn(watches, watch);

  const queueJob = (job: Job) => publishDurably(jobsSubject, encodeMessage(job), attemptKey(job));

  return {
    async publishJob(job) {
      ensureAvailable();
      if (await offerToWarmWorker(nc, job)) return;
      await queueJob(job);
    },

    consumeJobs(handler, { concurrency, warm }) {
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
      const puller = pullBySlots(() => js.consumers.get(jobsStream, workersDurable), concurrency, (msg) => handleJobMessage(msg, claims, handler));
      if (!warm) return track(puller);
      const offers = serveWarmOffers(nc, warm, puller, claims, handler, queueJob);
      return track({
        ...puller,
        stop: async () => {
          offers.stop();
          await puller.stop();
        },
      });
    },

    async announceFunctionRetired(functionId) {
      if (closed || !connected) return;
      try {
        nc.publish(functionDeletedSubject, functionId);
      } catch {}
    },

    watchFunctionRetirements(handler) {
      const subscription = nc.subscribe(functionDeletedSubject, {
        callback: (error, msg) => {
          if (error) return;
          try {
            handler(msg.string());
          } catch {}
        },
      });
      return watching({
        stop: async () => {
          if (!subscription.isClosed()) subscription.unsubscribe();
        },
      });
    },

    async setWarmTarget(functionId, target) {
      ensureAvailable();
      await warmTargets.set(functionId, target);
    },

    watchWarmTargets(handler) {
      return watching(warmTargets.watch(handler));
    },

    async listWarmTargets() {
      ensureAvailable();
      return warmTargets.list();
    },

    async publishStatus(status) {
      await publishDurably(resultsSubject(status.executionId), encodeMessage(status), `${attemptKey(status)}:${status.type}`);
    },

    async watchStatuses(executionId, handler): Promise<StatusWatch> {
      const subject = resultsSubject(executionId);
      ensureAvailable();
      // JetStream publishes reach core subscribers too. A status retried within the duplicate
      // window is stored once but heard twice here; watchers take the first outcome.
      const subscription = nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) return;
          const status = decodeStatus(msg.data);
          if (!status) return;
          // A faulty watcher must not end the subscription the others share the connection with.
          try {
            handler(status);
          } catch {}
        },
      });
      // Once the server has answered a flush it has the subscription: nothing published after
      // this resolves can be missed.
      try {
        await withTimeout(nc.flush(), publishTimeoutMs);
      } catch (error) {
        subscription.unsubscribe();
        throw new BusUnavailableError(`NATS did not confirm the watch of ${subject}: ${errorMessage(error)}`, { cause: error });
      }
      return {
        close: async () => {
          if (!subscription.isClosed()) subscription.unsubscribe();
        },
      };
    },

    consumeStatuses(handler) {
      return track(
        pullBySlots(() => js.consumers.get(resultsStream, recorderDurable), statusConcurrency, async (msg) => {
          const status = decodeStatus(msg.data);
          if (!status) return bestEffort(() => msg.term());
          try {
            await handler(status);
          } catch {
            bestEffort(() => msg.nak(retryDelayMs(msg.info.deliveryCount)));
            return;
          }
          // A lost ack only means the status is recorded again, and recording is idempotent.
          bestEffort(() => msg.ack());
        }),
      );
    },

    async lastStatus(executionId) {
      try {
        const stored = await jsm.streams.getMessage(resultsStream, { last_by_subj: resultsSubject(executionId) });
        return stored ? decodeStatus(stored.data) : null;
      } catch (error) {
        throw new BusUnavailableError(`NATS did not answer for the statuses of ${executionId}: ${errorMessage(error)}`, { cause: error });
      }
    },

    async publishWorkerReport(report) {
      ensureAvailable();
      await workerReports.publish(report);
    },

    async listWorkerReports() {
      ensureAvailable();
      return workerReports.list();
    },

    async pendingJobs() {
      try {
        // Released jobs wait in the consumer's redelivery list (num_ack_pending, with the ones
        // being run) and are not counted: this is a lower bound.
        return (await jsm.consumers.info(jobsStream, workersDurable)).num_pending;
      } catch (error) {
        throw new BusUnavailableError(`NATS did not report the job queue: ${errorMessage(error)}`, { cause: error });
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...consumers, ...watches].map((consumer) => consumer.stop()));
      consumers.clear();
      watches.clear();
      if (nc.isClosed()) return;
      // Drain flushes acks still buffered; it cannot finish while the server is away.
      if (connected) await withTimeout(nc.drain(), closeTimeoutMs).catch(() => nc.close());
      else await nc.close();
    },
  };
}
