import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The environment that runs a Node process under bench/cpu-profile.mjs (`npm run bench --
 * --cpu-prof <dir>`), or none without a directory. Node refuses --cpu-prof in NODE_OPTIONS but
 * takes an --import there.
 */
export function profileEnv(profileDir: string | undefined): Record<string, string> {
  if (profileDir === undefined) return {};
  mkdirSync(profileDir, { recursive: true });
  return {
    NODE_OPTIONS: `--import ${pathToFileURL(fileURLToPath(new URL('cpu-profile.mjs', import.meta.url))).href}`,
    BENCH_PROFILE_DIR: resolve(profileDir),
  };
}
