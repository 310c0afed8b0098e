import { readState } from '../commands/handle-command.ts';
import { userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { Platform } from '../platform.ts';
import type { TokenClaims } from './tokens.ts';

export type Principal = { userId: string; email: string; createdAt: string; operator: boolean };

/**
 * A validly signed token is honoured only while its user exists and the token is one Faasbox
 * issued to that user: deleting the user revokes every token at once. The projection answers
 * first; the user's stream decides when the projection has not seen the user or the token yet
 * (another api instance issued it a moment ago).
 */
export async function resolvePrincipal(platform: Platform, claims: TokenClaims): Promise<Principal | null> {
  const users = platform.projections.users;
  const view = users.get(claims.sub);
  if (view?.deleted) return null;
  if (view && view.email === claims.email && users.hasToken(view.id, claims.jti)) {
    return principal(platform, view.id, view.email, view.createdAt);
  }
  const { state } = await readState(platform.store, userDecider, userStream(claims.sub));
  if (state.status !== 'active' || state.email !== claims.email) return null;
  if (!state.tokens.some((token) => token.jti === claims.jti)) return null;
  return principal(platform, state.userId, state.email, state.registeredAt);
}

const principal = (platform: Platform, userId: string, email: string, createdAt: string): Principal => ({
  userId,
  email,
  createdAt,
  operator: platform.config.operators.has(email),
});
