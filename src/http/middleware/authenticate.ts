import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { jwt } from 'hono/jwt';
import { resolvePrincipal } from '../../queries/principal.ts';
import { TOKEN_ALGORITHM, TOKEN_KEY_ALGORITHM, readClaims } from '../../auth/tokens.ts';
import { createVerifiedTokens } from '../../auth/verified-tokens.ts';
import type { AppDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';

const unauthorized = (message: string) =>
  new HTTPException(401, {
    message,
    res: new Response(null, { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }),
  });

/** The middleware that makes a route need a live user's token; built once per app (one key, one cache). */
export type Authenticated = MiddlewareHandler<AppEnv>[];

/**
 * hono/jwt checks the signature with the algorithm pinned, `exp`, `nbf` and `iat`; then the
 * token must carry every claim Faasbox issues and still belong to a live user.
 */
export function authenticate(deps: Pick<AppDeps, 'config' | 'store' | 'projections'>): Authenticated {
  // Given the secret as a string, hono/jwt imports it as a CryptoKey on every request (a third
  // of its cost); imported once, the key is used as it is.
  const verifyToken = crypto.subtle
    .importKey('raw', new TextEncoder().encode(deps.config.jwtSecret), TOKEN_KEY_ALGORITHM, false, ['verify'])
    // A fixed realm: hono/jwt's default is the request URL, which echoed a token sent in the
    // query string (`?access_token=…`) back in the WWW-Authenticate header.
    .then((secret) => jwt({ secret, alg: TOKEN_ALGORITHM, realm: 'faasbox' }));
  const verified = createVerifiedTokens(VERIFIED_TOKENS_KEPT);
  return [
    async (c, next) => {
      const token = bearerToken(c.req.header('authorization'));
      const known = token === undefined ? undefined : verified.get(token, Math.floor(Date.now() / 1000));
      if (known !== undefined) {
        c.set('claims', known);
        return next();
      }
      // hono/jwt answers every malformed, unsigned, expired or forged token with its 401.
      return (await verifyToken)(c, async () => {
        const claims = readClaims(c.get('jwtPayload'));
        if (claims === null) throw unauthorized('the token lacks required claims');
        if (token !== undefined) verified.remember(token, claims);
        c.set('claims', claims);
        await next();
      });
    },
    async (c, next) => {
      const principal = await resolvePrincipal(deps, c.get('claims'));
      if (principal === null) throw unauthorized('the token is revoked or its user no longer exists');
      c.set('principal', principal);
      await next();
    },
  ];
}

/** Enough for every client of a busy api; each entry is a few hundred bytes. */
const VERIFIED_TOKENS_KEPT = 10_000;

/** The token of `Authorization: Bearer <token>`, split as hono/jwt splits it. */
function bearerToken(header: string | undefined): string | undefined {
  const parts = header?.split(/\s+/);
  return parts?.length === 2 && parts[0]!.toLowerCase() === 'bearer' && parts[1] !== '' ? parts[1] : undefined;
}
