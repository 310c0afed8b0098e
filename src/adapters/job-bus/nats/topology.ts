/**
 * The streams and durable consumers the bus runs on, and the subjects it publishes to.
 *
 * - Jobs: stream FAAS_JOBS (work queue) on `faas.jobs`, `Nats-Msg-Id` = executionId, one durable
 *   pull consumer `workers` shared by every worker.
 * - Claims: stream FAAS_CLAIMS on `faas.claims.<executionId>` (see claims.ts).
 * - Statuses: stream FAAS_RESULTS on `faas.results.<executionId>`, kept 24 h, so a status
 *   outlives an api restart; the durable pull consumer `recorder` is shared by every api.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';

export const jobsStream = 'FAAS_JOBS';
export const jobsSubject = 'faas.jobs';
export const resultsStream = 'FAAS_RESULTS';
const resultsSubjectPrefix = 'faas.results.';
export const claimsStream = 'FAAS_CLAIMS';
const claimsSubjectPrefix = 'faas.claims.';
export const workersDurable = 'workers';
export const recorderDurable = 'recorder';

const duplicateWindowMs = 2 * 60_000;
const resultsMaxAgeMs = 24 * 60 * 60_000;
/**
 * A worker acks a job when its container starts, which may follow a long image pull; while the
 * handler runs the adapter tells the server it is still working, so ack_wait only decides how
 * soon the job of a worker that died is offered again.
 */
export const jobAckWaitMs = 60_000;
const statusAckWaitMs = 30_000;

/** Several processes start at once: every step must be safe to repeat and to race. */
export async function ensureTopology(jsm: JetStreamManager, replicas: number) {
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

/** An id as one subject token: one with `.`, `*`, `>` or a space would name other subjects (or all of them). */
function subjectToken(name: string, id: string): string {
  if (!/^[\w-]+$/.test(id)) throw new RangeError(`${name} is not a subject token: ${JSON.stringify(id)}`);
  return id;
}

export const resultsSubject = (executionId: string): string => `${resultsSubjectPrefix}${subjectToken('executionId', executionId)}`;

/** Where workers holding a function's pre-started container hear offers of its jobs (warm-offers.ts). */
export const warmSubject = (functionId: string): string => `faas.warm.${subjectToken('functionId', functionId)}`;

/** Core NATS, not on a stream: a worker that misses one drops the function's containers at their idle expiry. */
export const functionDeletedSubject = 'faas.functions.deleted';

export const claimSubject = (executionId: string): string => `${claimsSubjectPrefix}${executionId}`;
