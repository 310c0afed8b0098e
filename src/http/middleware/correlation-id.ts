import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';

const HEADER = 'x-request-id';
// A caller's id is kept only when it is safe to log and to echo back.
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const correlationId = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  const offered = c.req.header(HEADER);
  const id = offered !== undefined && SAFE_ID.test(offered) ? offered : crypto.randomUUID();
  c.set('correlationId', id);
  c.header(HEADER, id);
  await next();
};
