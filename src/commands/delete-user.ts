import { emailReservationDecider } from '../domain/email-reservations.ts';
import { functionDecider } from '../domain/functions.ts';
import { DomainError } from '../domain/errors.ts';
import { emailStream, functionStream, userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { destroyKey } from './data-keys.ts';
import { retireFunction } from './delete-function.ts';
import { handleCommand } from './handle-command.ts';

type Deps = Pick<CommandDeps, 'store' | 'bus' | 'keys' | 'clock' | 'newId' | 'log'> & ReadYourWrites;

/**
 * Deletes the user, frees the email for a new registration, and deletes the user's functions.
 * Each step is idempotent, so a retry after a crash finishes the job; a registration that finds
 * the email still held by a deleted user takes it over (see registerUser).
 *
 * Their data key is destroyed first: what was encrypted under it (secrets, function env values,
 * kept stdin) is then unreadable in the log, its backups and every rebuild. First, because a
 * crash after the user's deletion would leave no token to retry with, and the key would stay.
 */
export async function deleteUser(deps: Deps, userId: string, correlationId: string): Promise<void> {
  const { store, clock } = deps;
  const context = commandContext(deps, correlationId);
  const owned = deps.projections.functions.listByOwner(userId);
  await destroyKey(deps.keys, userId);

  const deleted = await handleCommand(store, userDecider, userStream(userId), { type: 'DeleteUser', now: clock.now() }, context);
  const email = deleted.state.status === 'deleted' ? deleted.state.email : undefined;
  if (email === undefined) throw new DomainError('UserNotFound', 'no such user');

  const released = await handleCommand(
    store,
    emailReservationDecider,
    await emailStream(email),
    { type: 'ReleaseEmail', userId, now: clock.now() },
    context,
  );

  let position = released.position ?? deleted.position;
  for (const definition of owned) {
    try {
      const result = await handleCommand(
        store,
        functionDecider,
        functionStream(definition.functionId),
        { type: 'DeleteFunction', requesterId: null, now: clock.now() },
        context,
      );
      position = result.position ?? position;
      await retireFunction(deps, result.state, correlationId);
    } catch (error) {
      // Deleted meanwhile by its owner: the goal is reached.
      if (!(error instanceof DomainError && error.code === 'FunctionNotFound')) throw error;
    }
  }
  await awaitProjections(deps, position);
}
