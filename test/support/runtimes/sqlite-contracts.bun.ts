/**
 * Under Bun (`bun test/support/runtimes/sqlite-contracts.bun.ts`): the SQLite seam's contract and
 * the event-store contract on bun:sqlite. Run by test/event-store-sqlite-drivers.contract.test.ts.
 */
import { openBunSqlite } from '../../../src/adapters/sqlite/bun-sqlite-driver.ts';
import { defineEventStoreContract, sqliteAdapterUnderTest } from '../event-store-contract.ts';
import { defineSqliteDriverContract } from '../sqlite-driver-contract.ts';

defineSqliteDriverContract('bun:sqlite', openBunSqlite);
defineEventStoreContract(sqliteAdapterUnderTest('sqlite on bun:sqlite', openBunSqlite));
