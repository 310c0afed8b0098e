import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { consoleSessionPrincipal } from '../../queries/console-session.ts';
import type { AppDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';

/**
 * The console's session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
 * page sends it), Path=/console (the API never sees it: the bearer API is unchanged), and Secure
 * when the request came over HTTPS, as the socket or a trusted proxy says (`overHttps`). Over
 * HTTPS it takes the `__Host-` prefix, which browsers refuse to let any other path or a
 * subdomain set.
 */
const NAME = 'faasbox_console';

export type OverHttps = (c: Context<AppEnv>) => boolean;

export function sessionSecretOf(c: Context<AppEnv>, overHttps: OverHttps): string | undefined {
  return overHttps(c) ? getCookie(c, NAME, 'host') : getCookie(c, NAME);
}

export function setSessionCookie(c: Context<AppEnv>, overHttps: OverHttps, secret: string, expiresAt: string) {
  const secure = overHttps(c);
  // `__Host-` demands Path=/: the cookie then also goes to the API, which ignores it.
  setCookie(c, NAME, secret, {
    httpOnly: true,
    sameSite: 'Strict',
    secure,
    path: secure ? '/' : '/console',
    expires: new Date(expiresAt),
    ...(secure ? { prefix: 'host' as const } : {}),
  });
}

export function clearSessionCookie(c: Context<AppEnv>, overHttps: OverHttps) {
  const secure = overHttps(c);
  deleteCookie(c, NAME, { path: secure ? '/' : '/console', secure, ...(secure ? { prefix: 'host' as const } : {}) });
}

/** Pages that need a signed-in user: the principal is set, or the browser is sent to sign in. */
export const requireSession =
  (deps: AppDeps, overHttps: OverHttps): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    const secret = sessionSecretOf(c, overHttps);
    const principal = secret === undefined ? null : await consoleSessionPrincipal(deps, secret);
    if (principal === null) {
      if (secret !== undefined) clearSessionCookie(c, overHttps);
      // An htmx request (a live view) must not swap a whole sign-in page into a fragment.
      if (c.req.header('hx-request') === 'true') {
        c.header('hx-redirect', '/console/sign-in');
        return c.body(null, 401);
      }
      return c.redirect('/console/sign-in', 303);
    }
    c.set('principal', principal);
    await next();
  };
