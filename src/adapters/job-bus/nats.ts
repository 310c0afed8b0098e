/**
 * The JobBus over NATS JetStream (nats.js v3), for api and worker processes on several hosts.
 *
 * - Jobs: stream FAAS_JOBS (work queue) on `faas.jobs`, `Nats-Msg-Id` = executionId, one durable
 *   pull consumer `workers` shared by every worker. A worker pulls only as many messages as it
 *   has free slots, so the server never hands a busy worker a job another could run.
 * - Claims: stream FAAS_CLAIMS on `faas.claims.<executionId>`. A worker claims a job before it
 *   runs it, so a job the server offers again (it may, after a crash) never runs twice.
 * - Statuses: stream FAAS_RESULTS on `faas.results.<executionId>`, kept 24 h, so a status
 *   outlives an api restart. Waiting requests hear them on a core subscription; the durable
 *   pull consumer `recorder`, shared by every api, records each one.
 * - The servers must allow payloads of a few MB (`max_payload: 8MB`): a status carries up to
 *   1 MiB of stdout and 1 MiB of stderr.
 *
 * nats.js changed its API between v2 and v3; nothing outside this file may depend on it.
 */
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerMessages,
  type Consumer as JsConsumer,
  type JetStreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, errors, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  BusUnavailableError,
  type Consumer,
  type Job,
  type JobBus,
  type JobDelivery,
  type StatusMessage,
  type StatusWatch,
} from '../../ports/job-bus.ts';

export type NatsJobBusOptions = {
  servers: string | string[];
  /** The server's user and password, or its token; none when it requires no authentication. */
  auth?: { user: string; pass: string } | { token: string } | undefined;
  /** Shown by the server (connz), to tell api and worker connections apart. */
  name?: string;
  /** Stream replicas: 1 for a single server, 3 on a JetStream cluster. Default 1. */
  replicas?: number;
};

const jobsStream = 'FAAS_JOBS';
const jobsSubject = 'faas.jobs';
const resultsStream = 'FAAS_RESULTS';
const resultsSubjectPrefix = 'faas.results.';
const claimsStream = 'FAAS_CLAIMS';
const claimsSubjectPrefix = 'faas.claims.';
const workersDurable = 'workers';
const recorderDurable = 'recorder';

const duplicateWindowMs = 2 * 60_000;
const resultsMaxAgeMs = 24 * 60 * 60_000;
/**
 * A worker acks a job when its container starts, which may follow a long image pull; while the
 * handler runs the adapter tells the server it is still working, so ack_wait only decides how
 * soon the job of a worker that died is offered again.
 */
const jobAckWaitMs = 60_000;
const workingEveryMs = jobAckWaitMs / 3;
/** How long a worker keeps trying to claim a job through a broker outage before handing it back. */
const claimRetryLimitMs = jobAckWaitMs / 4;
const claimRetryMs = 500;
const statusAckWaitMs = 30_000;
/** Statuses are recorded one at a time per api process, which keeps one execution's in order. */
const statusConcurrency = 1;
/** How long a pull request waits on the server; an idle consumer renews it this often. */
const pullExpiresMs = 10_000;
const publishTimeoutMs = 5_000;
const pullRetryMs = 1_000;
const closeTimeoutMs = 5_000;

/** Redelivery back-off: 250 ms, doubling per delivery, at most 10 s. */
const retryDelayMs = (deliveryCount: number) => Math.min(250 * 2 ** Math.max(0, deliveryCount - 1), 10_000);

export async function connectNatsJobBus(options: NatsJobBusOptions): Promise<JobBus> {
  const nc = await connect({
    servers: options.servers,
    ...options.auth,
    ...(options.name ? { name: options.name } : {}),
    // A broker outage must never end the process: keep trying, and publish fails meanwhile.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // Notice a silently dead connection in ~30 s instead of the default minutes.
    pingInterval: 10_000,
    maxPingOut: 3,
  });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureTopology(jsm, options.replicas ?? 1);
    return createNatsJobBus(nc, jsm);
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
}

/** Several processes start at once: every step must be safe to repeat and to race. */
async function ensureTopology(jsm: JetStreamManager, replicas: number) {
  await ensureStream(jsm, {
    name: jobsStream,
    subjects: [jobsSubject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: nanos(duplicateWindowMs),
    // Nobody waits for a job this old (its deadline is long past): no stuck job lives for ever.
    max_age: nanos(resultsMaxAgeMs),
  });
  await ensureStream(jsm, {
    name: resultsStream,
    subjects: [`${resultsSubjectPrefix}>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: nanos(duplicateWindowMs),
    max_age: nanos(resultsMaxAgeMs),
  });
  await ensureStream(jsm, {
    name: claimsStream,
    subjects: [`${claimsSubjectPrefix}>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    // As long as a job may stay in FAAS_JOBS: a job offered again later still finds its claim.
    max_age: nanos(resultsMaxAgeMs),
  });
  await ensureConsumer(jsm, jobsStream, {
    durable_name: workersDurable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(jobAckWaitMs),
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 20_000,
  });
  await ensureConsumer(jsm, resultsStream, {
    durable_name: recorderDurable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(statusAckWaitMs),
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 20_000,
  });
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }) {
  try {
    await jsm.streams.add(config);
  } catch (error) {
    // Already there with another configuration (an older release, or a racing process).
    if (!(error instanceof JetStreamApiError)) throw error;
    const { name, retention, storage, ...updatable } = config;
    await jsm.streams.update(name, updatable);
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }) {
  try {
    // Servers before 2.10 update an existing durable here; later ones refuse a different config.
    await jsm.consumers.add(stream, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError)) throw error;
    const { durable_name, deliver_policy, ack_policy, ...updatable } = config;
    await jsm.consumers.update(stream, durable_name, updatable);
  }
}

function createNatsJobBus(nc: NatsConnection, jsm: JetStreamManager): JobBus {
  const js = jetstream(nc, { timeout: publishTimeoutMs });
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

  /**
   * Runs a request to the server, failed at once if the connection is down or drops meanwhile:
   * otherwise it would wait out its whole timeout.
   */
  const whileConnected = async <T>(request: () => Promise<T>): Promise<T> => {
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

  const publishDurably = async (subject: string, message: unknown, msgID: string) => {
    ensureAvailable();
    try {
      // Giving up early when the connection drops is safe: the msgID makes the caller's retry a
      // no-op if the message was stored.
      await whileConnected(() => js.publish(subject, encode(message), { msgID, timeout: publishTimeoutMs }));
    } catch (error) {
      // Too large for max_payload is a configuration fault, not an outage: retrying will not help.
      if (error instanceof errors.InvalidArgumentError) throw error;
      throw new BusUnavailableError(`NATS did not store the message on ${subject}: ${describe(error)}`, { cause: error });
    }
  };

  const claims = jobClaims(js, jsm, whileConnected);

  const track = (consumer: Puller): Consumer => {
    consumers.add(consumer);
    return {
      stop: async () => {
        consumers.delete(consumer);
        await consumer.stop();
      },
    };
  };

  return {
    async publishJob(job) {
      await publishDurably(jobsSubject, job, job.executionId);
    },

    consumeJobs(handler, { concurrency }) {
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
      return track(
        pullBySlots(() => js.consumers.get(jobsStream, workersDurable), concurrency, async (msg) => {
          const job = decode<Job>(msg.data);
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
        }),
      );
    },

    async publishStatus(status) {
      await publishDurably(resultsSubject(status.executionId), status, `${status.executionId}:${status.type}`);
    },

    async watchStatuses(executionId, handler): Promise<StatusWatch> {
      const subject = resultsSubject(executionId);
      ensureAvailable();
      // JetStream publishes reach core subscribers too. A status retried within the duplicate
      // window is stored once but heard twice here; watchers take the first outcome.
      const subscription = nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) return;
          const status = decode<StatusMessage>(msg.data);
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
        throw new BusUnavailableError(`NATS did not confirm the watch of ${subject}: ${describe(error)}`, { cause: error });
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
          const status = decode<StatusMessage>(msg.data);
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

    async pendingJobs() {
      try {
        // Released jobs wait in the consumer's redelivery list (num_ack_pending, with the ones
        // being run) and are not counted: this is a lower bound.
        return (await jsm.consumers.info(jobsStream, workersDurable)).num_pending;
      } catch (error) {
        throw new BusUnavailableError(`NATS did not report the job queue: ${describe(error)}`, { cause: error });
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...consumers].map((consumer) => consumer.stop()));
      consumers.clear();
      if (nc.isClosed()) return;
      // Drain flushes acks still buffered; it cannot finish while the server is away.
      if (connected) await withTimeout(nc.drain(), closeTimeoutMs).catch(() => nc.close());
      else await nc.close();
    },
  };
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
        throw new BusUnavailableError(`NATS did not take back ${job.executionId}: ${describe(error)}`, { cause: error });
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

type ClaimRecord = { token: string; state: 'claimed' | 'released' };
type HeldClaim = { release(): Promise<void> };

/**
 * Claims make "at most once" hold when the broker does not: a nats-server killed and restarted
 * can forget acks and deliveries it had confirmed (its consumer state is written lazily) and
 * offer again jobs that already ran, or are running on another worker. Before it runs a job, a
 * worker appends a claim to `faas.claims.<executionId>` at the subject's last sequence, which
 * the server checks atomically: one delivery of a job ever holds it. Stream messages are on
 * disk when the server confirms them, so claims survive what consumer state does not. A worker
 * that hands a job back unstarted appends a release, and the next delivery may claim it again.
 */
function jobClaims(js: JetStreamClient, jsm: JetStreamManager, whileConnected: <T>(request: () => Promise<T>) => Promise<T>) {
  const latest = async (subject: string) => {
    const stored = await whileConnected(() => jsm.streams.getMessage(claimsStream, { last_by_subj: subject }));
    return stored ? { seq: stored.seq, record: stored.json<ClaimRecord>() } : null;
  };
  const append = (subject: string, record: ClaimRecord, afterSeq: number) =>
    whileConnected(() => js.publish(subject, encode(record), { expect: { lastSubjectSequence: afterSeq }, timeout: publishTimeoutMs }));

  const held = (subject: string, token: string): HeldClaim => ({
    release: async () => {
      const current = await latest(subject);
      if (current?.record.state === 'claimed' && current.record.token === token) {
        await append(subject, { token, state: 'released' }, current.seq);
      }
    },
  });

  return {
    /** The claim on a job, or null when another delivery of it holds one. */
    async take(executionId: string): Promise<HeldClaim | null> {
      const subject = `${claimsSubjectPrefix}${executionId}`;
      // Our own: a claim stored while its confirmation was lost is recognised on the next try.
      const token = crypto.randomUUID();
      const giveUpAt = Date.now() + claimRetryLimitMs;
      for (;;) {
        try {
          const current = await latest(subject);
          if (current?.record.state === 'claimed') return current.record.token === token ? held(subject, token) : null;
          await append(subject, { token, state: 'claimed' }, current?.seq ?? 0);
          return held(subject, token);
        } catch (error) {
          // Someone appended first: read again. Anything else: the broker is away for now.
          if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence) continue;
          if (Date.now() + claimRetryMs >= giveUpAt) throw error;
          await sleep(claimRetryMs);
        }
      }
    },
  };
}

type Puller = Consumer & {
  /**
   * Drops the pull requests under way and asks again. A restarted server has forgotten them,
   * and nats.js asks again only once JetStream answers, else after a back-off as long as the
   * pull's expiry (10 s): a worker would sit idle that long, and jobs expire meanwhile.
   */
  repull(): void;
};

/**
 * Pulls from a durable consumer never more messages than free slots: every message requested
 * and not yet arrived holds a slot, as does every handler not yet settled. An idle consumer keeps
 * one pull request for all its slots open; each slot freed meanwhile opens another for itself.
 */
function pullBySlots(getConsumer: () => Promise<JsConsumer>, concurrency: number, handle: (msg: JsMsg) => Promise<void>): Puller {
  let stopped = false;
  let running = 0;
  let requested = 0;
  let consumer: JsConsumer | null = null;
  const batches = new Set<ConsumerMessages>();
  const receiving = new Set<Promise<void>>();
  let wake: (() => void) | null = null;
  const wakeUp = () => {
    wake?.();
    wake = null;
  };

  const receive = async (batch: ConsumerMessages, size: number) => {
    let arrived = 0;
    try {
      for await (const msg of batch) {
        arrived++;
        requested--;
        if (stopped) {
          // Arrived after stop: hand it straight back for another consumer.
          bestEffort(() => msg.nak());
          continue;
        }
        running++;
        void handle(msg)
          .catch(() => undefined)
          .finally(() => {
            running--;
            wakeUp();
          });
      }
    } catch {
      // The pull failed (missed heartbeats, consumer gone): pause before asking again.
      await sleep(pullRetryMs);
    } finally {
      batches.delete(batch);
      requested -= size - arrived;
      wakeUp();
    }
  };

  const loop = async () => {
    while (!stopped) {
      const free = concurrency - running - requested;
      if (free <= 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      try {
        consumer ??= await getConsumer();
        const batch = await consumer.fetch({ max_messages: free, expires: pullExpiresMs });
        if (stopped) {
          await batch.close();
          break;
        }
        requested += free;
        batches.add(batch);
        const task = receive(batch, free);
        receiving.add(task);
        void task.finally(() => receiving.delete(task));
      } catch {
        await sleep(pullRetryMs);
      }
    }
  };
  const looping = loop();

  return {
    repull: () => {
      for (const batch of batches) void batch.close().catch(() => undefined);
    },
    stop: async () => {
      stopped = true;
      wakeUp();
      await Promise.all([...batches].map((batch) => batch.close().catch(() => undefined)));
      await Promise.all([looping, ...receiving]);
    },
  };
}

const resultsSubject = (executionId: string) => {
  // An id with `.`, `*`, `>` or a space would name other subjects (or all of them).
  if (!/^[\w-]+$/.test(executionId)) throw new RangeError(`executionId is not a subject token: ${JSON.stringify(executionId)}`);
  return `${resultsSubjectPrefix}${executionId}`;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const encode = (message: unknown) => encoder.encode(JSON.stringify(message));

/** Null for a message that is not ours: it can never succeed, so it is dropped, not retried. */
function decode<T extends { executionId: string }>(data: Uint8Array): T | null {
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return typeof value === 'object' && value !== null && typeof (value as { executionId?: unknown }).executionId === 'string' ? (value as T) : null;
  } catch {
    return null;
  }
}

/**
 * For acks whose loss only delays a redelivery until ack_wait passes. They throw only on a
 * closed connection, and must not, from a timer, end the process.
 */
const bestEffort = (send: () => void) => {
  try {
    send();
  } catch {}
};

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
