import { readState } from '../commands/handle-command.ts';
import { consoleSessionDecider, isOpenAt } from '../domain/console-sessions.ts';
import { consoleSessionStream, userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { Clock } from '../ports/clock.ts';
import type { QueryDeps } from './deps.ts';
import type { Principal } from './principal.ts';

/**
 * Who a console cookie signs in: its session read from its stream (so a sign-out on any api
 * counts at once), open and unexpired, and its user still alive (a deleted user's sessions end
 * with them). The projection answers for the user first, the stream when it has not seen them.
 */
export async function consoleSessionPrincipal(deps: QueryDeps & { clock: Clock }, secret: string): Promise<Principal | null> {
  if (secret === '' || secret.length > 100) return null;
  const { state } = await readState(deps.store, consoleSessionDecider, await consoleSessionStream(secret));
  if (!isOpenAt(state, deps.clock.now())) return null;
  const view = deps.projections.users.get(state.userId);
  if (view) return view.deleted ? null : { userId: view.id, email: view.email, createdAt: view.createdAt };
  const user = await readState(deps.store, userDecider, userStream(state.userId));
  return user.state.status === 'active' ? { userId: user.state.userId, email: user.state.email, createdAt: user.state.registeredAt } : null;
}
