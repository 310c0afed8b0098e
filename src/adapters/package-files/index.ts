/**
 * Files of installed packages and of Faasbox's own manifest, read from disk. Through node:fs and
 * node:module, which Node, Bun and Deno all provide; the core (the HTTP app) gets these as
 * functions, so that it stays on web standards.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** A file of an installed package, resolved like an import, wherever the runtime installed it. */
async function readPackageFile(packageName: string, file: string): Promise<Uint8Array<ArrayBuffer>> {
  const packageDir = dirname(createRequire(import.meta.url).resolve(`${packageName}/package.json`));
  return new Uint8Array(await readFile(join(packageDir, file)));
}

/** The `version` of Faasbox's package.json. */
function faasboxVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  const version = (manifest as { version?: unknown }).version;
  return typeof version === 'string' ? version : '0.0.0';
}

/** What the api's documentation routes read (the app's DocsSources): the version and Swagger UI's files. */
export const installedDocs = () => ({ version: faasboxVersion(), readPackageFile });
