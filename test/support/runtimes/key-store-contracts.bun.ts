/**
 * Under Bun (`bun test/support/runtimes/key-store-contracts.bun.ts`): the key-store contract on
 * bun:sqlite, with Bun's WebCrypto. Run by test/key-store-runtimes.contract.test.ts.
 */
import { openBunSqlite } from '../../../src/adapters/sqlite/bun-sqlite-driver.ts';
import { defineKeyStoreContract, sqliteKeyStoreUnderTest } from '../key-store-contract.ts';

defineKeyStoreContract(sqliteKeyStoreUnderTest('sqlite on bun:sqlite', openBunSqlite));
