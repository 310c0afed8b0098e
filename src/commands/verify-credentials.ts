import { emailReservationDecider } from '../domain/email-reservations.ts';
import { DomainError } from '../domain/errors.ts';
import { emailStream, userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { CommandDeps } from './deps.ts';
import { readState } from './handle-command.ts';

/**
 * The live user an email and password name, for every way in (a token, a console session):
 * limited per email and address by the login throttle; an unknown email and a wrong password
 * fail alike, in body and in time.
 */
export async function verifyCredentials(
  deps: Pick<CommandDeps, 'store' | 'loginThrottle' | 'passwords'>,
  input: { email: string; password: string; clientAddress: string },
) {
  const { store, loginThrottle, passwords } = deps;
  const { email, clientAddress } = input;

  const waitSeconds = await loginThrottle.retryAfter(email, clientAddress);
  if (waitSeconds > 0) throw new DomainError('TooManyAttempts', 'too many failed logins; try again later', waitSeconds);

  const reservation = await readState(store, emailReservationDecider, await emailStream(email));
  const userId = reservation.state.holder?.userId;
  const user = userId === undefined ? undefined : await readState(store, userDecider, userStream(userId));
  const known = user?.state.status === 'active' ? user.state : undefined;

  if (!(await passwords.verify(input.password, known?.passwordHash)) || known === undefined) {
    await loginThrottle.recordFailure(email, clientAddress);
    throw new DomainError('InvalidCredentials', 'the email or password is wrong');
  }
  await loginThrottle.recordSuccess(email, clientAddress);
  return known;
}
