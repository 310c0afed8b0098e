import { emailReservationDecider } from '../domain/email-reservations.ts';
import { DomainError } from '../domain/errors.ts';
import { emailStream, userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { EventStore } from '../ports/event-store.ts';
import { type CommandContext, handleCommand, readState } from './handle-command.ts';

export type OperatorChange = {
  userId: string;
  /** False when the user already was (grant) or was not (revoke) an operator: nothing recorded. */
  changed: boolean;
};

type Request = {
  /** Who runs the command, recorded in the event for the audit. */
  by: string;
  now: Date;
  context: CommandContext;
};

/**
 * Operator rights are granted from the host, against the store, never over HTTP: whoever can
 * run this already holds the store. The email names the account that holds it now; the rights
 * go to that account's id, so a later account registered with the same email has none.
 */
export const grantOperator = (store: EventStore, email: string, request: Request) =>
  changeOperator(store, email, 'GrantOperator', request);

/** The admin routes read the user's stream per request, so the revoke holds from the next one. */
export const revokeOperator = (store: EventStore, email: string, request: Request) =>
  changeOperator(store, email, 'RevokeOperator', request);

async function changeOperator(
  store: EventStore,
  email: string,
  type: 'GrantOperator' | 'RevokeOperator',
  { by, now, context }: Request,
): Promise<OperatorChange> {
  const userId = await holderOf(store, email);
  // The user's stream decides: a holder deleted since the read above is refused, not granted.
  const result = await handleCommand(store, userDecider, userStream(userId), { type, by, now }, context);
  return { userId, changed: result.events.length > 0 };
}

/** The account the email stream names now (the stream registration reserves), from the store. */
async function holderOf(store: EventStore, email: string): Promise<string> {
  const { state } = await readState(store, emailReservationDecider, await emailStream(email.trim().toLowerCase()));
  if (state.holder === null) throw new DomainError('UserNotFound', `no account holds the email ${email}`);
  return state.holder.userId;
}
