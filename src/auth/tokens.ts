import { sign } from 'hono/jwt';
import type { IssuedToken } from '../domain/users.ts';

export const TOKEN_ALGORITHM = 'HS256';
/** TOKEN_ALGORITHM's key, for crypto.subtle.importKey. */
export const TOKEN_KEY_ALGORITHM = { name: 'HMAC', hash: 'SHA-256' } as const;

export type TokenClaims = { sub: string; email: string; jti: string; iat: number; exp: number };

/**
 * HS256 over the same claims gives the same string, so a token is stored as its claims only
 * and re-signed when handed out again. The claim order is fixed here for that reason.
 */
export async function signToken(secret: string, user: { userId: string; email: string }, token: IssuedToken) {
  const claims: TokenClaims = {
    sub: user.userId,
    email: user.email,
    jti: token.jti,
    iat: Math.floor(Date.parse(token.issuedAt) / 1000),
    exp: Math.floor(Date.parse(token.expiresAt) / 1000),
  };
  return sign(claims, secret, TOKEN_ALGORITHM);
}

/** Claims a Faasbox token must carry; `exp` is required, not optional as in RFC 7519. */
export function readClaims(payload: Record<string, unknown>): TokenClaims | null {
  const { sub, email, jti, iat, exp } = payload;
  if (typeof sub !== 'string' || typeof email !== 'string' || typeof jti !== 'string') return null;
  if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isFinite(iat) || !Number.isFinite(exp)) return null;
  return { sub, email, jti, iat, exp };
}
