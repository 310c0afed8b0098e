import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { jwt } from 'hono/jwt';
import { resolvePrincipal } from '../../auth/principal.ts';
import { TOKEN_ALGORITHM, readClaims } from '../../auth/tokens.ts';
import type { Platform } from '../../platform.ts';
import type { AppEnv } from '../env.ts';

const unauthorized = (message: string) =>
  new HTTPException(401, {
    message,
    res: new Response(null, { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }),
  });

/**
 * hono/jwt checks the signature with the algorithm pinned, `exp`, `nbf` and `iat`; then the
 * token must carry every claim Faasbox issues and still belong to a live user.
 */
export function authenticate(platform: Platform): MiddlewareHandler<AppEnv>[] {
  return [
    jwt({ secret: platform.config.jwtSecret, alg: TOKEN_ALGORITHM }),
    async (c, next) => {
      const claims = readClaims(c.get('jwtPayload'));
      if (claims === null) throw unauthorized('the token lacks required claims');
      const principal = await resolvePrincipal(platform, claims);
      if (principal === null) throw unauthorized('the token is revoked or its user no longer exists');
      c.set('principal', principal);
      await next();
    },
  ];
}
