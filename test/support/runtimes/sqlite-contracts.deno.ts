/**
 * Under Deno (`deno run --allow-read --allow-write --allow-env test/support/runtimes/sqlite-contracts.deno.ts`):
 * the SQLite seam's contract and the event-store contract on node:sqlite. Run by
 * test/event-store-sqlite-drivers.contract.test.ts.
 */
import { openNodeSqlite } from '../../../src/adapters/sqlite/node-sqlite-driver.ts';
import { defineEventStoreContract, sqliteAdapterUnderTest } from '../event-store-contract.ts';
import { defineSqliteDriverContract } from '../sqlite-driver-contract.ts';

defineSqliteDriverContract('node:sqlite', openNodeSqlite);
defineEventStoreContract(sqliteAdapterUnderTest('sqlite on node:sqlite', openNodeSqlite));
