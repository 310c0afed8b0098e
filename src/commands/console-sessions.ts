import { toBase64Url } from '../lib/base64url.ts';
import { consoleSessionDecider } from '../domain/console-sessions.ts';
import { consoleSessionStream } from '../domain/streams.ts';
import type { CommandDeps } from './deps.ts';
import { commandContext } from './context.ts';
import { handleCommand } from './handle-command.ts';
import { verifyCredentials } from './verify-credentials.ts';

type Deps = Pick<CommandDeps, 'store' | 'clock' | 'newId' | 'loginThrottle' | 'passwords' | 'config'>;

/** 32 random bytes: the cookie's secret, which only its stream's name (a digest) remembers. */
const SECRET_BYTES = 32;

/**
 * Signs in to the console with the API's email and password (the same throttle): a new session
 * that lasts as long as a token does (FAASBOX_TOKEN_LIFETIME_SECONDS). Answers the cookie's secret.
 */
export async function startConsoleSession(
  deps: Deps,
  input: { email: string; password: string; clientAddress: string },
  correlationId: string,
): Promise<{ secret: string; expiresAt: string }> {
  const user = await verifyCredentials(deps, input);
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
  const result = await handleCommand(
    deps.store,
    consoleSessionDecider,
    await consoleSessionStream(secret),
    { type: 'StartConsoleSession', userId: user.userId, now: deps.clock.now(), lifetimeMs: deps.config.tokenLifetimeSeconds * 1000 },
    commandContext(deps, correlationId),
  );
  if (result.state.status !== 'open') throw new Error('a console session was not started');
  return { secret, expiresAt: result.state.expiresAt };
}

/** Ends the session the secret names, for every api at once (each reads it on every page). */
export async function endConsoleSession(deps: Pick<CommandDeps, 'store' | 'clock' | 'newId'>, secret: string, correlationId: string): Promise<void> {
  await handleCommand(deps.store, consoleSessionDecider, await consoleSessionStream(secret), { type: 'EndConsoleSession', now: deps.clock.now() }, commandContext(deps, correlationId));
}
