/**
 * The callback of an asynchronous execution: the URL its submission named, checked against the
 * operator's allowed hosts, and its deliveries, one `callback-<executionId>` stream each. An
 * attempt is claimed on the stream before it is sent (CallbackAttemptStarted, at the revision
 * read), so that of several apis that find it due one sends it; a claim whose sender vanished
 * (its lease passed with no result) counts as a failed attempt. Deliveries are at least once:
 * a sender that dies after the receiver answered and before the result is recorded leaves an
 * attempt that is sent again, so receivers dedupe on the `Faasbox-Delivery` header.
 */
import type { Decider, DomainEvent } from './decider.ts';

export type CallbackPolicy = {
  /** The wait after the first failed attempt; it doubles after each next one. */
  baseDelayMs: number;
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** No attempt is made later than this after the first. */
  maxSpanMs: number;
  /** How long a claimed attempt is its sender's: past it, with no result, it counts as failed. */
  leaseMs: number;
};

/** How long one attempt waits for the receiver's answer. */
export const CALLBACK_ATTEMPT_TIMEOUT_MS = 5_000;

/** 1 s, 2 s, 4 s … 64 s: eight attempts within about two and a half minutes, never past ten. */
export const DEFAULT_CALLBACK_POLICY: CallbackPolicy = {
  baseDelayMs: 1_000,
  maxAttempts: 8,
  maxSpanMs: 10 * 60_000,
  // Well past the attempt's timeout and the two appends around it.
  leaseMs: 6 * CALLBACK_ATTEMPT_TIMEOUT_MS,
};

/** One attempt that ended, as the execution's record lists it. */
export type CallbackDelivery = {
  attempt: number;
  /** When the attempt was made (its signature's timestamp). */
  at: string;
  /** The receiver's HTTP status; null when there was no answer. */
  status: number | null;
  /** Why it failed when the status does not say (no answer, a redirect); null otherwise. */
  error: string | null;
};

export type CallbackEvent =
  | DomainEvent<'CallbackAttemptStarted', { attempt: number; at: string; leaseUntil: string }>
  | DomainEvent<'CallbackDelivered', { attempt: number; at: string; status: number }>
  | DomainEvent<'CallbackAttemptFailed', CallbackDelivery & { nextAttemptAt: string | null }>
  | DomainEvent<'CallbackAbandoned', { at: string; attempts: number; reason: string }>;

export type CallbackState = {
  state: 'pending' | 'delivered' | 'abandoned';
  /** Attempts claimed so far. */
  attempts: number;
  /** The attempt being sent, until its result is recorded. */
  inFlight: { attempt: number; at: string; leaseUntil: string } | null;
  firstAttemptAt: string | null;
  /** After a failed attempt: not before this. */
  nextAttemptAt: string | null;
  deliveries: CallbackDelivery[];
};

export type CallbackCommand =
  /** Claims the next attempt when one is due (and records a vanished sender's attempt as failed). */
  | { type: 'StartAttempt'; now: Date; policy: CallbackPolicy }
  /** The receiver's answer to an attempt, or why there was none. */
  | { type: 'RecordAttempt'; attempt: number; now: Date; status: number | null; error: string | null; policy: CallbackPolicy }
  /** No more attempts: the URL is no longer allowed. */
  | { type: 'AbandonCallback'; now: Date; reason: string };

export const isSuccessStatus = (status: number | null) => status !== null && status >= 200 && status < 300;

/** The wait after a failed `attempt` (1-based). */
export const callbackBackoffMs = (policy: CallbackPolicy, attempt: number) => policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30);

const LOST_ATTEMPT = 'no result was recorded before its lease ended (its sender stopped)';

/** A failed attempt, then the next one's time, or the end. */
function failure(state: CallbackState, delivery: CallbackDelivery, now: Date, policy: CallbackPolicy): CallbackEvent[] {
  const next = now.getTime() + callbackBackoffMs(policy, delivery.attempt);
  const first = Date.parse(state.firstAttemptAt ?? delivery.at);
  if (delivery.attempt < policy.maxAttempts && next <= first + policy.maxSpanMs) {
    return [{ type: 'CallbackAttemptFailed', data: { ...delivery, nextAttemptAt: new Date(next).toISOString() } }];
  }
  return [
    { type: 'CallbackAttemptFailed', data: { ...delivery, nextAttemptAt: null } },
    {
      type: 'CallbackAbandoned',
      data: { at: now.toISOString(), attempts: delivery.attempt, reason: `no 2xx answer in ${delivery.attempt} attempt${delivery.attempt === 1 ? '' : 's'}` },
    },
  ];
}

export const callbackDecider: Decider<CallbackCommand, CallbackEvent, CallbackState> = {
  initialState: () => ({ state: 'pending', attempts: 0, inFlight: null, firstAttemptAt: null, nextAttemptAt: null, deliveries: [] }),

  evolve: (state, event) => {
    switch (event.type) {
      case 'CallbackAttemptStarted':
        return {
          ...state,
          attempts: event.data.attempt,
          inFlight: event.data,
          firstAttemptAt: state.firstAttemptAt ?? event.data.at,
          nextAttemptAt: null,
        };
      case 'CallbackDelivered': {
        const { attempt, at, status } = event.data;
        return { ...state, state: 'delivered', inFlight: null, deliveries: [...state.deliveries, { attempt, at, status, error: null }] };
      }
      case 'CallbackAttemptFailed': {
        const { nextAttemptAt, ...delivery } = event.data;
        return { ...state, inFlight: null, nextAttemptAt, deliveries: [...state.deliveries, delivery] };
      }
      case 'CallbackAbandoned':
        return { ...state, state: 'abandoned', inFlight: null, nextAttemptAt: null };
    }
  },

  decide: (command, state) => {
    if (state.state !== 'pending') return [];
    const now = command.now.getTime();
    switch (command.type) {
      case 'StartAttempt': {
        const { inFlight } = state;
        if (inFlight !== null) {
          if (now < Date.parse(inFlight.leaseUntil)) return [];
          return failure(state, { attempt: inFlight.attempt, at: inFlight.at, status: null, error: LOST_ATTEMPT }, command.now, command.policy);
        }
        if (state.nextAttemptAt !== null && now < Date.parse(state.nextAttemptAt)) return [];
        const at = command.now.toISOString();
        return [{ type: 'CallbackAttemptStarted', data: { attempt: state.attempts + 1, at, leaseUntil: new Date(now + command.policy.leaseMs).toISOString() } }];
      }
      case 'RecordAttempt': {
        // Recorded already, as lost, by another sender once the lease passed: that stands.
        if (state.inFlight?.attempt !== command.attempt) return [];
        const { at } = state.inFlight;
        if (command.error === null && command.status !== null && isSuccessStatus(command.status)) {
          return [{ type: 'CallbackDelivered', data: { attempt: command.attempt, at, status: command.status } }];
        }
        return failure(state, { attempt: command.attempt, at, status: command.status, error: command.error }, command.now, command.policy);
      }
      case 'AbandonCallback':
        return [{ type: 'CallbackAbandoned', data: { at: command.now.toISOString(), attempts: state.attempts, reason: command.reason } }];
    }
  },
};

/** The most a callback URL may hold; receivers' own limits are about this. */
export const CALLBACK_URL_MAX_LENGTH = 2048;

/**
 * An allowed-host entry as the operator wrote it (`host` or `host:port`, IPv6 in brackets),
 * normalized as a URL's host is (lower case, IPv4 in dotted form); null when it is no host.
 */
export function normalizeCallbackHost(entry: string): string | null {
  const match = /^(\[[0-9a-f:.]+\]|[^\s:/?#@[\]\\]+)(?::(\d{1,5}))?$/.exec(entry.trim().toLowerCase());
  if (!match) return null;
  const [, host = '', port] = match;
  let hostname: string;
  try {
    hostname = new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
  if (hostname === '') return null;
  if (port === undefined) return hostname;
  const number = Number(port);
  return number >= 1 && number <= 65535 ? `${hostname}:${number}` : null;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

export type CallbackUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

/**
 * Whether a callback may go to `raw`: an http(s) URL with no credentials in it, whose host is
 * one the operator allowed. A bare host allows its scheme's default port only; `host:port`
 * allows that port. The reason never quotes the URL (its query may carry the receiver's secret).
 */
export function checkCallbackUrl(raw: string, allowedHosts: ReadonlySet<string>): CallbackUrlCheck {
  if (allowedHosts.size === 0) {
    return { ok: false, reason: 'callbacks are not enabled on this server: the operator allows no callback host (FAASBOX_CALLBACK_HOSTS)' };
  }
  if (raw.length > CALLBACK_URL_MAX_LENGTH) return { ok: false, reason: `must be at most ${CALLBACK_URL_MAX_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'must be an absolute http:// or https:// URL' };
  }
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) return { ok: false, reason: 'must be an absolute http:// or https:// URL' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'must not carry a user name or password' };
  const candidates = url.port === '' ? [url.hostname, `${url.hostname}:${defaultPort}`] : [`${url.hostname}:${url.port}`];
  if (!candidates.some((host) => allowedHosts.has(host))) {
    return { ok: false, reason: `the host ${url.host} is not allowed for callbacks (allowed: ${[...allowedHosts].join(', ')})` };
  }
  // Fragments are never sent; what is stored is what is called.
  url.hash = '';
  return { ok: true, url: url.href };
}
