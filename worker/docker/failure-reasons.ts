/**
 * Why a run failed, in the words its outcome carries: no disk space, an engine that is not there
 * or is going away (not something the function's owner did), or else the step and the engine's
 * own message.
 */
import type Docker from 'dockerode';
import { settlesWithin } from '../../src/lib/timers.ts';
import type { ContainerRunOutcome } from '../../src/domain/execution-outcome.ts';
import { NO_DISK_SPACE, NoDiskSpaceError } from '../disk/index.ts';
import { engineMessage } from '../docker-engine.ts';

export const notStarted = (reason: string): ContainerRunOutcome => ({ kind: 'failed', reason, started: false });

export const abortReason = (signal: AbortSignal | undefined) =>
  typeof signal?.reason === 'string' ? signal.reason : 'the execution was stopped by the worker';

/** Why a step of the run failed, as the run's reason: `what` says which step. */
export async function failureReason(docker: Docker, error: unknown, what: string): Promise<string> {
  return (await failureOf(docker, error, what)).reason;
}

/** A run that could not start because a step failed: `what` says which step. */
export async function notStartedBy(docker: Docker, error: unknown, what: string): Promise<ContainerRunOutcome> {
  const { reason, hostFault } = await failureOf(docker, error, what);
  return { ...notStarted(reason), ...(hostFault ? { hostFault } : {}) };
}

async function failureOf(docker: Docker, error: unknown, what: string): Promise<{ reason: string; hostFault: boolean }> {
  if (error instanceof NoDiskSpaceError) return { reason: NO_DISK_SPACE, hostFault: true };
  if (isEngineUnreachable(error)) return { reason: engineUnavailable(error), hostFault: true };
  // An engine going away fails a request in more ways than these: a broken pipe, errors of its
  // own while it stops ("transport is closing"). Whether it is going, only a new connection
  // tells (see src/entry/start.ts).
  if (mayBeEngineGoing(error) && !(await answers(docker))) return { reason: engineUnavailable(error), hostFault: true };
  return { reason: `${what}: ${engineMessage(error)}`, hostFault: false };
}

/** No answer from the engine at all, or a server error: not something the function's owner did. */
const mayBeEngineGoing = (error: unknown) => {
  const { statusCode } = (error ?? {}) as { statusCode?: unknown };
  return statusCode === undefined || Number(statusCode) >= 500;
};

/** Whether the engine answers a ping, and soon: a frozen engine must not hold up the run's report. */
async function answers(docker: Docker): Promise<boolean> {
  let answered = false;
  await settlesWithin(
    docker.ping().then(() => (answered = true)),
    ENGINE_PING_TIMEOUT_MS,
  );
  return answered;
}

const ENGINE_PING_TIMEOUT_MS = 2000;

const engineUnavailable = (error: unknown) => `container engine unavailable: ${engineMessage(error)}`;

/** Socket errors from reaching the engine at all (no HTTP status): the engine is not there. */
const ENGINE_UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function isEngineUnreachable(error: unknown): boolean {
  const { code, statusCode } = (error ?? {}) as { code?: unknown; statusCode?: unknown };
  return statusCode === undefined && typeof code === 'string' && ENGINE_UNREACHABLE_CODES.has(code);
}
