/**
 * Under Deno (`deno run --allow-read --allow-write --allow-env test/support/runtimes/key-store-contracts.deno.ts`):
 * the key-store contract on node:sqlite, with Deno's WebCrypto. Run by
 * test/key-store-runtimes.contract.test.ts.
 */
import { openNodeSqlite } from '../../../src/adapters/sqlite/node-sqlite-driver.ts';
import { defineKeyStoreContract, sqliteKeyStoreUnderTest } from '../key-store-contract.ts';

defineKeyStoreContract(sqliteKeyStoreUnderTest('sqlite on node:sqlite', openNodeSqlite));
