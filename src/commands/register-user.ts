import { emailReservationDecider } from '../domain/email-reservations.ts';
import { DomainError } from '../domain/errors.ts';
import { emailStream, userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand, readState } from './handle-command.ts';

type Deps = Pick<CommandDeps, 'store' | 'clock' | 'newId' | 'passwords'> & ReadYourWrites;

export type RegisteredUser = { id: string; email: string; createdAt: string };

/**
 * A registration reserves the email and records the user in two appends. A process that dies
 * between them leaves a reservation with no user; after this long it counts as abandoned.
 */
const ABANDONED_RESERVATION_MS = 30_000;

/** `email` is already normalized (trimmed, lower-cased) and the password checked for length. */
export async function registerUser(
  deps: Deps,
  input: { email: string; password: string },
  correlationId: string,
): Promise<RegisteredUser> {
  const { store, clock } = deps;
  const context = commandContext(deps, correlationId);
  const reservationStream = await emailStream(input.email);

  // Cheap early answer before the deliberately slow hash; the append below is what decides.
  const abandonedHolder = await findAbandonedHolder(deps, reservationStream);
  const passwordHash = await deps.passwords.hash(input.password);

  const userId = deps.newId();
  await handleCommand(
    store,
    emailReservationDecider,
    reservationStream,
    { type: 'ReserveEmail', userId, now: clock.now(), abandonedHolder },
    context,
  );
  const registered = await handleCommand(
    store,
    userDecider,
    userStream(userId),
    { type: 'RegisterUser', userId, email: input.email, passwordHash, now: clock.now() },
    context,
  );
  await awaitProjections(deps, registered.position);
  const event = registered.events[0];
  if (event?.type !== 'UserRegistered') throw new Error('registration recorded no user');
  return { id: userId, email: input.email, createdAt: event.data.registeredAt };
}

/** Throws EmailTaken when the email belongs to a live user; names a dead holder, if any. */
async function findAbandonedHolder(deps: Deps, reservationStream: string): Promise<string | undefined> {
  const { state } = await readState(deps.store, emailReservationDecider, reservationStream);
  if (state.holder === null) return undefined;
  const holder = await readState(deps.store, userDecider, userStream(state.holder.userId));
  const age = deps.clock.now().getTime() - Date.parse(state.holder.reservedAt);
  const deletedBeforeRelease = holder.state.status === 'deleted';
  const diedBeforeRecording = !holder.exists && age > ABANDONED_RESERVATION_MS;
  if (deletedBeforeRelease || diedBeforeRecording) return state.holder.userId;
  throw new DomainError('EmailTaken', 'the email is already registered');
}
