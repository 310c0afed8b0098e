import type { Context } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import type { Principal } from '../queries/principal.ts';
import type { TokenClaims } from '../auth/tokens.ts';

export type AppEnv = {
  Variables: RequestIdVariables & {
    principal: Principal;
    jwtPayload: Record<string, unknown>;
    /** A verified token's claims, set by authenticate. */
    claims: TokenClaims;
  };
};

/** How the runtime's adapter tells the app who is calling (the socket's address). */
export type ClientAddressOf = (c: Context<AppEnv>) => string;
