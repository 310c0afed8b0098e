import type { EventStore, RecordedEvent } from '../src/ports/event-store.ts';
import type { ReadModels } from './read-models.ts';
import type { UserView } from './users.ts';

/**
 * One event as an operator reads it: its id, where it sits, when, what, which request caused it,
 * and the event it reacts to (a slot released because its execution ended).
 */
export type AuditEntry = {
  id: string;
  stream: string;
  revision: number;
  position: number;
  recordedAt: string;
  type: string;
  data: unknown;
  correlationId: string;
  causationId?: string;
};

export const MASK = '***';

/** The events that hold a whole version of a function, its environment included. */
const FUNCTION_VERSIONS = new Set(['FunctionCreated', 'FunctionUpdated', 'FunctionRolledBack']);

/**
 * Operators read histories, not secrets: password hashes, secrets' values and the values of a
 * function's environment (where users keep API keys) are masked, though the values are stored
 * encrypted (src/commands/function-env.ts): ciphertext tells an operator nothing either, and its
 * length something. The names of variables and secrets stay readable. So
 * are an asynchronous execution's kept stdin (the user's payload) and its callback URL's path and
 * query (where a receiver may keep its token): its origin stays.
 */
export function maskSecrets(type: string, data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const fields = data as Record<string, unknown>;
  if (type === 'UserRegistered' && 'passwordHash' in fields) return { ...fields, passwordHash: MASK };
  if (FUNCTION_VERSIONS.has(type) && typeof fields.env === 'object' && fields.env !== null) {
    return { ...fields, env: Object.fromEntries(Object.keys(fields.env).map((name) => [name, MASK])) };
  }
  if ((type === 'SecretCreated' || type === 'SecretChanged') && 'value' in fields) return { ...fields, value: MASK };
  if (type === 'ExecutionQueued') {
    const masked = { ...fields };
    if ('stdin' in masked) masked.stdin = MASK;
    if (typeof masked.callbackUrl === 'string') masked.callbackUrl = `${originOf(masked.callbackUrl)}/${MASK}`;
    return masked;
  }
  return data;
}

const originOf = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    return MASK;
  }
};

export const toAuditEntry = (event: RecordedEvent): AuditEntry => ({
  id: event.id,
  stream: event.streamName,
  revision: event.revision,
  position: event.position,
  recordedAt: event.recordedAt,
  type: event.type,
  data: maskSecrets(event.type, event.data),
  correlationId: event.metadata.correlationId,
  ...(event.metadata.causationId === undefined ? {} : { causationId: event.metadata.causationId }),
});

export type StreamPage = { entries: AuditEntry[]; nextRevision: number | null };

/** Events of one stream in order, a page at a time; `nextRevision` continues where this page ends. */
export async function auditStream(
  store: EventStore,
  streamName: string,
  page: { fromRevision?: number; limit?: number } = {},
): Promise<StreamPage> {
  const limit = page.limit ?? Number.MAX_SAFE_INTEGER;
  const events = await store.readStream(streamName, {
    fromRevision: page.fromRevision ?? 0,
    // One more than asked tells whether there is a next page without another read.
    maxCount: limit === Number.MAX_SAFE_INTEGER ? undefined : limit + 1,
  });
  const entries = events.slice(0, limit).map(toAuditEntry);
  return { entries, nextRevision: events.length > limit ? events[limit]!.revision : null };
}

export type UserHistory = { accounts: UserView[]; entries: AuditEntry[] };

/**
 * Everything that happened to the accounts registered with one email (an address freed by a
 * deletion can be taken again), across their user, email, function and execution streams, in
 * the order of the global log. Undefined when no account ever had the email.
 */
export async function auditUser(store: EventStore, readModels: ReadModels, email: string): Promise<UserHistory | undefined> {
  const accounts = readModels.users.findByEmail(email.trim().toLowerCase());
  if (accounts.length === 0) return undefined;
  const streams = new Set(accounts.flatMap((account) => readModels.streamsByUser.list(account.id)));
  const entries: AuditEntry[] = [];
  for (const stream of streams) entries.push(...(await auditStream(store, stream)).entries);
  entries.sort((a, b) => a.position - b.position);
  return { accounts, entries };
}
