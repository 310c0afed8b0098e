/** Stream names: one place, so every reader and writer agrees. */
import { toHex } from '../lib/hex.ts';

export const userStream = (userId: string) => `user-${userId}`;
export const functionStream = (functionId: string) => `function-${functionId}`;

/** The email is hashed so the stream name carries no personal data and has a fixed length. */
export const emailStream = async (normalizedEmail: string) => {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(normalizedEmail));
  return `email-${toHex(new Uint8Array(digest))}`;
};

/** The key is hashed: a stream name of fixed length whatever the client sent. Keys are per user. */
export const idempotencyKeyStream = async (userId: string, key: string) => {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key));
  return `idempotency-${userId}-${toHex(new Uint8Array(digest))}`;
};

export const streamPrefixes = {
  user: 'user-',
  email: 'email-',
  function: 'function-',
  execution: 'execution-',
  slots: 'slots-',
  idempotency: 'idempotency-',
  callback: 'callback-',
  secrets: 'secrets-',
  consoleSession: 'console-session-',
} as const;
export const executionStream = (executionId: string) => `execution-${executionId}`;
/** The deliveries of an execution's callback (src/domain/callbacks.ts), apart from its lifecycle. */
export const callbackStream = (executionId: string) => `callback-${executionId}`;
/** A user's secrets (src/domain/secrets.ts): one stream, so a user's secrets are read in one read. */
export const secretsStream = (userId: string) => `secrets-${userId}`;
/** A console session, by the SHA-256 of its cookie's secret: the name carries nothing that lets anyone in. */
export const consoleSessionStream = async (secret: string) => {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret));
  return `console-session-${toHex(new Uint8Array(digest))}`;
};
export const userSlotsStream = (userId: string) => `slots-${userId}`;
export const GLOBAL_SLOTS_STREAM = 'slots-global';
