import { statusOf } from '../../actors/execution.ts';
import { DELIVERY_HEADER, SIGNATURE_HEADER, callbackSigningKey, signatureHeader } from '../auth/callback-signing.ts';
import type { CommandDeps } from '../commands/deps.ts';
import { type CallbackCommandDeps, abandonCallback, claimCallbackAttempt, recordCallbackAttempt } from '../commands/deliver-callback.ts';
import { readState } from '../commands/handle-command.ts';
import { CALLBACK_ATTEMPT_TIMEOUT_MS, type CallbackEvent, type CallbackPolicy, DEFAULT_CALLBACK_POLICY, checkCallbackUrl } from '../domain/callbacks.ts';
import { isTerminal } from '../domain/execution-outcome.ts';
import { executionDecider } from '../domain/executions.ts';
import { executionStream, userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import { describeError } from '../ports/logger.ts';
import { executionView } from '../queries/execution-view.ts';
import type { RunningProcess } from './process.ts';

export type CallbackSenderDeps = CallbackCommandDeps & Pick<CommandDeps, 'config' | 'projections' | 'log' | 'metrics'>;

export type CallbackSenderOptions = {
  /** How often the read model is asked for due callbacks. */
  intervalMs?: number;
  /** Changes to DEFAULT_CALLBACK_POLICY (tests shorten the backoff). */
  policy?: Partial<CallbackPolicy>;
  /** How long one attempt waits for an answer. */
  attemptTimeoutMs?: number;
  /** Attempts in flight at once from this api: a slow receiver holds one, not the others. */
  concurrency?: number;
};

const SWEEP_INTERVAL_MS = 1_000;
const CONCURRENCY = 16;
const USER_AGENT = 'faasbox-callbacks';

type SendOptions = { policy: CallbackPolicy; attemptTimeoutMs: number; stopped: AbortSignal };

/**
 * One attempt at an execution's callback, if one is due: the execution must have ended for good
 * as its stream says now (an attempt that failed and will be retried is not its end), the URL
 * must still be allowed, and the attempt must be claimed on the callback's stream before it is
 * sent. The body is the record as GET /v1/executions/{id} answers it, without the callback's
 * own deliveries, so that it does not change from one attempt to the next.
 */
export async function sendCallback(deps: CallbackSenderDeps, executionId: string, options: SendOptions): Promise<void> {
  const { state } = await readState(deps.store, executionDecider, executionStream(executionId));
  if (state.status !== 'present' || state.queued.callbackUrl === undefined || !isTerminal(statusOf(state.snapshot))) return;
  // The operator may have withdrawn the host since the submission: nothing goes there any more.
  const target = checkCallbackUrl(state.queued.callbackUrl, deps.config.callbacks.allowedHosts);
  if (!target.ok) {
    if (await abandonCallback(deps, executionId, `not sent: ${target.reason}`)) deps.metrics.callbacks.inc({ outcome: 'abandoned' });
    deps.log('warn', 'callback abandoned', { executionId, reason: target.reason });
    return;
  }
  // A deleted user's data goes nowhere any more, their pending callbacks' included.
  const owner = await readState(deps.store, userDecider, userStream(state.queued.ownerId));
  if (owner.state.status !== 'active') {
    if (await abandonCallback(deps, executionId, 'not sent: its owner was deleted')) deps.metrics.callbacks.inc({ outcome: 'abandoned' });
    deps.log('warn', 'callback abandoned', { executionId, reason: 'its owner was deleted' });
    return;
  }
  if (options.stopped.aborted) return;
  const { claimed: claim, recorded } = await claimCallbackAttempt(deps, executionId, options.policy);
  countAndLog(deps, executionId, recorded, {});
  if (claim === null) return;

  const body = JSON.stringify(executionView(state));
  const key = await callbackSigningKey(deps.config.jwtSecret, state.queued.ownerId);
  const signature = await signatureHeader(key, Math.floor(claim.at.getTime() / 1000), body);
  const answer = await post(target.url, body, {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    [SIGNATURE_HEADER.toLowerCase()]: signature,
    [DELIVERY_HEADER.toLowerCase()]: executionId,
  }, options);

  const events = await recordCallbackAttempt(deps, executionId, { attempt: claim.attempt, ...answer }, options.policy);
  countAndLog(deps, executionId, events, { attempt: claim.attempt, status: answer.status, error: answer.error });
}

/**
 * What an append recorded, counted and logged once: the events are the ones that append wrote,
 * so of several apis only the one that wrote them counts them. The URL is not logged: its query
 * may carry the receiver's secret.
 */
function countAndLog(deps: CallbackSenderDeps, executionId: string, events: CallbackEvent[], attempt: Record<string, unknown>) {
  const fields = { executionId, ...attempt };
  for (const event of events) {
    if (event.type === 'CallbackDelivered') {
      deps.metrics.callbacks.inc({ outcome: 'delivered' });
      deps.log('info', 'callback delivered', fields);
    }
    if (event.type === 'CallbackAttemptFailed') {
      deps.metrics.callbacks.inc({ outcome: 'failed' });
      deps.log('warn', 'callback attempt failed', { ...fields, attempt: event.data.attempt, error: event.data.error, nextAttemptAt: event.data.nextAttemptAt });
    }
    if (event.type === 'CallbackAbandoned') {
      deps.metrics.callbacks.inc({ outcome: 'abandoned' });
      deps.log('warn', 'callback abandoned', { executionId, reason: event.data.reason });
    }
  }
}

/** The receiver's status, or why there was none. A redirect is not followed: it is a failure. */
async function post(url: string, body: string, headers: Record<string, string>, options: SendOptions): Promise<{ status: number | null; error: string | null }> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.any([AbortSignal.timeout(options.attemptTimeoutMs), options.stopped]),
    });
    // Nothing of the answer is kept but its status; the rest is not worth its download.
    await response.body?.cancel().catch(() => {});
    // A browser-like fetch hides a redirect's status (an opaque redirect, status 0).
    if (response.type === 'opaqueredirect') return { status: null, error: 'redirected: redirects are not followed' };
    const status = response.status;
    return { status, error: status >= 300 && status < 400 ? 'redirected: redirects are not followed' : null };
  } catch (error) {
    return { status: null, error: failureOf(error, url, options) };
  }
}

/** Why the request got no answer, in words that quote neither the URL nor anything secret. */
function failureOf(error: unknown, url: string, options: SendOptions): string {
  if (options.stopped.aborted) return 'the api stopped during the attempt';
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${options.attemptTimeoutMs / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return `no answer: ${cause.code}`;
  const message = error instanceof Error ? error.message : 'the request failed';
  return `no answer: ${message.split(url).join('<callback URL>')}`.slice(0, 200);
}

/**
 * Every second, sends the callbacks the read model says are due, up to `concurrency` at once;
 * on stop, attempts in flight are cut short and recorded as failed (the next api retries them).
 */
export function startCallbackSender(deps: CallbackSenderDeps, options: CallbackSenderOptions = {}): RunningProcess {
  const policy = { ...DEFAULT_CALLBACK_POLICY, ...options.policy };
  const concurrency = options.concurrency ?? CONCURRENCY;
  const stopping = new AbortController();
  const send: SendOptions = { policy, attemptTimeoutMs: options.attemptTimeoutMs ?? CALLBACK_ATTEMPT_TIMEOUT_MS, stopped: stopping.signal };
  const inFlight = new Map<string, Promise<void>>();

  const sweep = () => {
    const free = concurrency - inFlight.size;
    if (free <= 0) return;
    let due: string[];
    try {
      due = deps.projections.callbacks.due(deps.clock.now(), concurrency + inFlight.size);
    } catch (error) {
      deps.log('warn', 'callback sweep failed', describeError(error));
      return;
    }
    for (const executionId of due.filter((id) => !inFlight.has(id)).slice(0, free)) {
      const sending = sendCallback(deps, executionId, send)
        .catch((error: unknown) => deps.log('warn', 'callback attempt not made', { executionId, ...describeError(error) }))
        .finally(() => inFlight.delete(executionId));
      inFlight.set(executionId, sending);
    }
  };
  const timer = setInterval(sweep, options.intervalMs ?? SWEEP_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await Promise.all(inFlight.values());
    },
  };
}
