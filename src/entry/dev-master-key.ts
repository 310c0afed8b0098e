import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pid } from 'node:process';
import { MASTER_KEY_BYTES } from '../auth/envelope.ts';
import type { Config } from '../config-type.ts';
import { ConfigError } from '../config.ts';
import { parseKeyText } from '../lib/key-text.ts';

export type MasterKeyBytes = { current: Uint8Array<ArrayBuffer>; previous: readonly Uint8Array<ArrayBuffer>[] };

/**
 * FAASBOX_MASTER_KEY (and the previous keys), or, outside production, a key made once and kept
 * in the data dir (`master-key`, mode 0600), as the JWT secret is. A production api refuses to
 * start without it: kept beside keys.sqlite, any copy of the data dir would hold both the
 * wrapped keys and what unwraps them.
 */
export function resolveMasterKeys(config: Config): MasterKeyBytes {
  const { current, previous } = config.masterKeys;
  if (current !== undefined) return { current, previous };
  if (config.production) {
    throw new ConfigError(
      `FAASBOX_MASTER_KEY is required when NODE_ENV=production (${MASTER_KEY_BYTES} random bytes: openssl rand -base64 ${MASTER_KEY_BYTES})`,
    );
  }
  return { current: developmentMasterKey(config.dataDir), previous };
}

function developmentMasterKey(dataDir: string): Uint8Array<ArrayBuffer> {
  const file = join(dataDir, 'master-key');
  if (!existsSync(file)) createOnce(file, dataDir);
  const kept = parseKeyText(readFileSync(file, 'utf8'), MASTER_KEY_BYTES);
  if (kept === null) {
    throw new ConfigError(`${file} does not hold a ${MASTER_KEY_BYTES}-byte key (base64, base64url or hex): restore it, or set FAASBOX_MASTER_KEY`);
  }
  return kept;
}

/**
 * Written whole under another name, then linked into place: of two processes starting at once,
 * one key wins, and neither reads a half-written file.
 */
function createOnce(file: string, dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  const draft = `${file}.${pid}.${Date.now()}`;
  const key = crypto.getRandomValues(new Uint8Array(MASTER_KEY_BYTES));
  writeFileSync(draft, `${Buffer.from(key).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(draft, 0o600);
  try {
    linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}
