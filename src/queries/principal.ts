import { readState } from '../commands/handle-command.ts';
import { userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { TokenClaims } from '../auth/tokens.ts';
import type { QueryDeps } from './deps.ts';

/** Who the token belongs to; operator rights are checked apart (operators.ts), by the admin routes. */
export type Principal = { userId: string; email: string; createdAt: string };

/**
 * A validly signed token is honoured only while its user exists and the token is one Faasbox
 * issued to that user: deleting the user revokes every token at once. The projection answers
 * first; the user's stream decides when the projection has not seen the user or the token yet
 * (another api instance issued it a moment ago).
 */
export async function resolvePrincipal(deps: QueryDeps, claims: TokenClaims): Promise<Principal | null> {
  const users = deps.projections.users;
  const view = users.get(claims.sub);
  if (view?.deleted) return null;
  if (view && view.email === claims.email && users.hasToken(view.id, claims.jti)) {
    return { userId: view.id, email: view.email, createdAt: view.createdAt };
  }
  const { state } = await readState(deps.store, userDecider, userStream(claims.sub));
  if (state.status !== 'active' || state.email !== claims.email) return null;
  if (!state.tokens.some((token) => token.jti === claims.jti)) return null;
  return { userId: state.userId, email: state.email, createdAt: state.registeredAt };
}
