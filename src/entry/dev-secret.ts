import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config-type.ts';
import { ConfigError, MIN_SECRET_BYTES } from '../config.ts';

/**
 * Development convenience: with no FAASBOX_JWT_SECRET, a random secret is made once and kept in
 * the data directory, so tokens survive restarts. A production api refuses to start without one.
 */
export function resolveJwtSecret(config: Config): string {
  if (config.jwtSecret !== undefined) return config.jwtSecret;
  if (config.production) {
    throw new ConfigError(`FAASBOX_JWT_SECRET is required when NODE_ENV=production (at least ${MIN_SECRET_BYTES} bytes)`);
  }
  const file = join(config.dataDir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return secret;
}
