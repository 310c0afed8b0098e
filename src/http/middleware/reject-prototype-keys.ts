import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { problemResponse } from '../problem.ts';

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/**
 * A `__proto__` key is legal JSON, but JavaScript objects cannot hold it as data: schema
 * validation silently drops it (zod strips it from records), so a user's env variable would
 * vanish without a word. Refused here, by name, before any schema runs.
 */
export const rejectPrototypeKeys = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  if (!JSON_MEDIA_TYPE.test(c.req.header('content-type') ?? '')) return next();
  let found = false;
  try {
    // The text is cached by Hono, so the validator parses the same body again without reading it.
    JSON.parse(await c.req.text(), (key, value: unknown) => {
      if (key === '__proto__') found = true;
      return value;
    });
  } catch {
    return next(); // malformed JSON: the validator answers it
  }
  if (found) return problemResponse(c, 400, 'invalid-request', 'the key "__proto__" is not allowed', { errors: [{ field: '__proto__', message: 'is not allowed' }] });
  return next();
};
