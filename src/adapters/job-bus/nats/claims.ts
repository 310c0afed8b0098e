/**
 * Claims make "at most once" hold when the broker does not: a nats-server killed and restarted
 * can forget acks and deliveries it had confirmed (its consumer state is written lazily) and
 * offer again jobs that already ran, or are running on another worker. Before it runs a job, a
 * worker appends a claim to `faas.claims.<executionId>` at the subject's last sequence, which
 * the server checks atomically: one delivery of a job ever holds it. Stream messages are on
 * disk when the server confirms them, so claims survive what consumer state does not. A worker
 * that hands a job back unstarted appends a release, and the next delivery may claim it again.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { publishTimeoutMs, sleep, type WhileConnected } from './broker-calls.ts';
import { type ClaimRecord, encodeMessage } from './codec.ts';
import { claimsStream, claimSubject, jobAckWaitMs } from './topology.ts';

/** How long a worker keeps trying to claim a job through a broker outage before handing it back. */
const claimRetryLimitMs = jobAckWaitMs / 4;
const claimRetryMs = 500;

export type HeldClaim = { release(): Promise<void> };

export type JobClaims = {
  /** The claim on a job, or null when another delivery of it holds one. */
  take(executionId: string): Promise<HeldClaim | null>;
};

export function jobClaims(js: JetStreamClient, jsm: JetStreamManager, whileConnected: WhileConnected): JobClaims {
  const latest = async (subject: string) => {
    const stored = await whileConnected(() => jsm.streams.getMessage(claimsStream, { last_by_subj: subject }));
    return stored ? { seq: stored.seq, record: stored.json<ClaimRecord>() } : null;
  };
  const append = (subject: string, record: ClaimRecord, afterSeq: number) =>
    whileConnected(() => js.publish(subject, encodeMessage(record), { expect: { lastSubjectSequence: afterSeq }, timeout: publishTimeoutMs }));

  const held = (subject: string, token: string): HeldClaim => ({
    release: async () => {
      const current = await latest(subject);
      if (current?.record.state === 'claimed' && current.record.token === token) {
        await append(subject, { token, state: 'released' }, current.seq);
      }
    },
  });

  return {
    async take(executionId) {
      const subject = claimSubject(executionId);
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
