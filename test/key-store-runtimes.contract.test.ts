/**
 * The key store on Bun and Deno: envelope encryption through each runtime's own WebCrypto, and
 * the SQLite adapter on its own driver (bun:sqlite, node:sqlite), each running the whole
 * key-store contract under that runtime (test/support/runtimes/key-store-contracts.<runtime>.ts).
 */
import { suite } from 'uvu';
import { passesUnder } from './support/other-runtime.ts';

const suites = ['key-store contract [sqlite on'];
const onRuntimes = suite('key-store contract on the runtimes’ own WebCrypto and SQLite');

onRuntimes('bun: bun:sqlite passes the key-store contract', () =>
  passesUnder('bun', 'test/support/runtimes/key-store-contracts.bun.ts', { suites }),
);

onRuntimes('deno: node:sqlite passes the key-store contract', () =>
  passesUnder('deno', 'test/support/runtimes/key-store-contracts.deno.ts', {
    suites,
    // Temporary files, and os.tmpdir() reads TMPDIR.
    denoPermissions: ['--allow-read', '--allow-write', '--allow-env'],
  }),
);

onRuntimes.run();
