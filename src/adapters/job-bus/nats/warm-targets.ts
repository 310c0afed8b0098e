/**
 * Warm targets (functions with `minWarm`) in the JetStream key-value bucket FAAS_WARM_TARGETS,
 * one key per function, the last value only. A worker watches the bucket: it hears every target
 * set before it started, then every change, and after a reconnect the watch picks up where it was.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { errorMessage } from '../../../lib/error-message.ts';
import { BusUnavailableError, type Consumer, type WarmTarget } from '../../../ports/job-bus.ts';
import { sleep, type WhileConnected } from './broker-calls.ts';

const warmTargetsBucket = 'FAAS_WARM_TARGETS';
const watchRetryMs = 1_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export async function openWarmTargetsBucket(js: JetStreamClient, replicas: number): Promise<KV> {
  // Creates the bucket, or opens it when another process did first.
  return new Kvm(js).create(warmTargetsBucket, { replicas, history: 1 });
}

export type WarmTargetStore = {
  set(functionId: string, target: WarmTarget | null): Promise<void>;
  list(): Promise<string[]>;
  watch(handler: (functionId: string, target: WarmTarget | null) => void): Consumer;
};

export function warmTargetStore(kv: KV, whileConnected: WhileConnected, isClosed: () => boolean): WarmTargetStore {
  return {
    async set(functionId, target) {
      try {
        if (target === null) await whileConnected(() => kv.delete(functionId));
        else await whileConnected(() => kv.put(functionId, encoder.encode(JSON.stringify(target))));
      } catch (error) {
        throw new BusUnavailableError(`NATS did not store the warm target of ${functionId}: ${errorMessage(error)}`, { cause: error });
      }
    },

    async list() {
      try {
        return await whileConnected(async () => {
          const ids: string[] = [];
          for await (const key of await kv.keys()) ids.push(key);
          return ids;
        });
      } catch (error) {
        throw new BusUnavailableError(`NATS did not list the warm targets: ${errorMessage(error)}`, { cause: error });
      }
    },

    watch(handler) {
      let stopped = false;
      let current: { stop(): void } | null = null;
      const deliver = (functionId: string, target: WarmTarget | null) => {
        try {
          handler(functionId, target);
        } catch {}
      };
      const following = (async () => {
        while (!stopped && !isClosed()) {
          try {
            const entries = await kv.watch();
            current = entries;
            if (stopped) entries.stop();
            for await (const entry of entries) {
              if (entry.operation === 'PUT') {
                const target = decodeTarget(entry.value);
                if (target) deliver(entry.key, target);
              } else {
                deliver(entry.key, null);
              }
            }
          } catch {
            // The bucket or the server is away: watch again, and hear every target again.
          }
          if (!stopped) await sleep(watchRetryMs);
        }
      })();
      return {
        stop: async () => {
          stopped = true;
          current?.stop();
          await following;
        },
      };
    },
  };
}

function decodeTarget(value: Uint8Array): WarmTarget | null {
  try {
    const target: unknown = JSON.parse(decoder.decode(value));
    return typeof target === 'object' && target !== null && typeof (target as { minWarm?: unknown }).minWarm === 'number' ? (target as WarmTarget) : null;
  } catch {
    return null;
  }
}
