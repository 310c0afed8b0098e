/**
 * Pulls from a durable consumer never more messages than free slots: every message requested
 * and not yet arrived holds a slot, as does every handler not yet settled. An idle consumer keeps
 * one pull request for all its slots open; each slot freed meanwhile opens another for itself.
 * So the server never hands a busy worker a job another could run.
 */
import type { ConsumerMessages, Consumer as JsConsumer, JsMsg } from '@nats-io/jetstream';
import type { Consumer } from '../../../ports/job-bus.ts';
import { bestEffort, sleep } from './broker-calls.ts';

/** How long a pull request waits on the server; an idle consumer renews it this often. */
const pullExpiresMs = 10_000;
const pullRetryMs = 1_000;

export type Puller = Consumer & {
  /**
   * Takes a slot for a job that came another way (a warm offer), or null when every slot runs a
   * job; the returned function frees it. A slot a pull request was waiting on may be taken so:
   * a message that then arrives with no slot free is handed straight back, for another worker.
   */
  reserve(): (() => void) | null;
  /**
   * Drops the pull requests under way and asks again. A restarted server has forgotten them,
   * and nats.js asks again only once JetStream answers, else after a back-off as long as the
   * pull's expiry (10 s): a worker would sit idle that long, and jobs expire meanwhile.
   */
  repull(): void;
};

export function pullBySlots(getConsumer: () => Promise<JsConsumer>, concurrency: number, handle: (msg: JsMsg) => Promise<void>): Puller {
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
        if (stopped || running >= concurrency) {
          // Arrived after stop, or its slot went to a warm offer: straight back, for another consumer.
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
    reserve: () => {
      if (stopped || running >= concurrency) return null;
      running++;
      let freed = false;
      return () => {
        if (freed) return;
        freed = true;
        running--;
        wakeUp();
      };
    },
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
