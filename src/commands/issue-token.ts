import { signToken } from '../auth/tokens.ts';
import { DomainError } from '../domain/errors.ts';
import { userStream } from '../domain/streams.ts';
import { reusableToken, userDecider } from '../domain/users.ts';
import type { CommandDeps, ReadYourWrites } from './deps.ts';
import { awaitProjections, commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';
import { verifyCredentials } from './verify-credentials.ts';

type Deps = Pick<CommandDeps, 'store' | 'clock' | 'newId' | 'loginThrottle' | 'passwords' | 'config'> & ReadYourWrites;

export type IssuedTokenResponse = { token: string; expiresAt: string };

/** Unknown email and wrong password fail alike, in body and in time. */
export async function issueToken(
  deps: Deps,
  input: { email: string; password: string; clientAddress: string },
  correlationId: string,
): Promise<IssuedTokenResponse> {
  const { store, clock } = deps;
  const known = await verifyCredentials(deps, input);

  const now = clock.now();
  const result = await handleCommand(
    store,
    userDecider,
    userStream(known.userId),
    { type: 'IssueToken', jti: deps.newId(), lifetimeMs: deps.config.tokenLifetimeSeconds * 1000, now },
    commandContext(deps, correlationId),
  );
  const token = reusableToken(result.state, now);
  // The user was deleted between the password check and the append.
  if (token === undefined) throw new DomainError('InvalidCredentials', 'the email or password is wrong');
  await awaitProjections(deps, result.position);
  return {
    token: await signToken(deps.config.jwtSecret, { userId: known.userId, email: known.email }, token),
    expiresAt: token.expiresAt,
  };
}
