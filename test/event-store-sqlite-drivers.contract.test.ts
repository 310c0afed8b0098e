/**
 * The SQLite seam on each runtime's own driver, under that runtime: better-sqlite3 here under
 * Node; bun:sqlite under Bun and node:sqlite under Deno, each running the seam's contract and the
 * whole event-store contract (test/support/runtimes/sqlite-contracts.<runtime>.ts).
 */
import { suite } from 'uvu';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import { passesUnder } from './support/other-runtime.ts';
import { defineSqliteDriverContract } from './support/sqlite-driver-contract.ts';

defineSqliteDriverContract('better-sqlite3', openBetterSqlite3);

const suites = ['sqlite driver contract', 'event-store contract [sqlite on'];
const onRuntimes = suite('sqlite contracts on the runtimes’ own drivers');

onRuntimes('bun: bun:sqlite passes the driver and event-store contracts', () =>
  passesUnder('bun', 'test/support/runtimes/sqlite-contracts.bun.ts', { suites }),
);

onRuntimes('deno: node:sqlite passes the driver and event-store contracts', () =>
  passesUnder('deno', 'test/support/runtimes/sqlite-contracts.deno.ts', {
    suites,
    // Temporary files, and os.tmpdir() reads TMPDIR.
    denoPermissions: ['--allow-read', '--allow-write', '--allow-env'],
  }),
);

onRuntimes.run();
