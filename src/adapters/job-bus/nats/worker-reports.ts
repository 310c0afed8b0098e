/**
 * Workers' reports in the JetStream key-value bucket FAAS_WORKERS, one key per worker, its last
 * report only. The bucket's max age drops the report of a worker that stopped reporting (killed,
 * its host gone) with no one deleting it. In memory, not on file: a report is a few seconds'
 * news, every worker writes one every few seconds, and after a broker restart each is back within
 * an interval; writing them to disk would be fsyncs for nothing.
 */
import { type JetStreamClient, type JetStreamManager, StorageType } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { errorMessage } from '../../../lib/error-message.ts';
import { toBase64Url } from '../../../lib/base64url.ts';
import { BusUnavailableError } from '../../../ports/job-bus.ts';
import type { WorkerReport } from '../../../ports/worker-report.ts';
import type { WhileConnected } from './broker-calls.ts';

const workersBucket = 'FAAS_WORKERS';
/** The stream under the bucket, and its keys' subjects. */
const workersStream = `KV_${workersBucket}`;
const keySubjectPrefix = `$KV.${workersBucket}.`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Creates the bucket, or opens it as it is when another process did first: its max age is the
 * first creator's (tests make theirs on a server of their own).
 */
export async function openWorkerReportsBucket(js: JetStreamClient, replicas: number, keptMs: number): Promise<KV> {
  return new Kvm(js).create(workersBucket, { replicas, history: 1, ttl: keptMs, storage: StorageType.Memory });
}

export type WorkerReportStore = {
  publish(report: WorkerReport): Promise<void>;
  list(): Promise<WorkerReport[]>;
};

/**
 * A worker id as a key: keys allow fewer characters than worker ids may hold (a host name with a
 * dot at its end), so each is base64url of its UTF-8; the report itself names the worker.
 */
const keyOf = (workerId: string) => toBase64Url(encoder.encode(workerId));

export function workerReportStore(kv: KV, jsm: JetStreamManager, whileConnected: WhileConnected): WorkerReportStore {
  return {
    async publish(report) {
      try {
        await whileConnected(() => kv.put(keyOf(report.workerId), encoder.encode(JSON.stringify(report))));
      } catch (error) {
        throw new BusUnavailableError(`NATS did not store the report of worker ${report.workerId}: ${errorMessage(error)}`, { cause: error });
      }
    },

    async list() {
      try {
        return await whileConnected(async () => {
          // The keys from the stream's own count per subject, one request (paged past its limit),
          // not `kv.keys()`: that waits for as many messages as a consumer counted at its start,
          // and a report that expires in between never comes (it waited for the next heartbeat,
          // seconds, on a busy host).
          const { state } = await jsm.streams.info(workersStream, { subjects_filter: `${keySubjectPrefix}>` });
          const keys = Object.keys(state.subjects ?? {}).map((subject) => subject.slice(keySubjectPrefix.length));
          // A report that expires between the count and its get is simply not there.
          const entries = await Promise.all(keys.map((key) => kv.get(key)));
          return entries.flatMap((entry) => (entry?.operation === 'PUT' ? (decodeReport(entry.value) ?? []) : []));
        });
      } catch (error) {
        throw new BusUnavailableError(`NATS did not list the workers' reports: ${errorMessage(error)}`, { cause: error });
      }
    },
  };
}

function decodeReport(value: Uint8Array): WorkerReport | null {
  try {
    const report: unknown = JSON.parse(decoder.decode(value));
    return typeof report === 'object' && report !== null && typeof (report as { workerId?: unknown }).workerId === 'string' ? (report as WorkerReport) : null;
  } catch {
    return null;
  }
}
