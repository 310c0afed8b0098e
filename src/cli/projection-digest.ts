import { createHash } from 'node:crypto';
import type { Projection } from '../../projections/projection.ts';
import type { SqliteDatabase } from '../ports/sqlite.ts';

const DIGEST_PAGE = 5_000;
const MOD_256 = 1n << 256n;

/**
 * A digest of every row of the projection's tables: the sum, modulo 2^256, of each row's SHA-256.
 * A sum ignores order, so equal digests mean equal read models however their rows were written,
 * and the tables can be read a page at a time in rowid order.
 */
export function digestProjection(db: SqliteDatabase, projection: Projection): string {
  const tables = createHash('sha256');
  for (const table of projection.tables) {
    let sum = 0n;
    let after = 0;
    const page = db.prepare(`SELECT rowid AS rowid_, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ${DIGEST_PAGE}`);
    for (let rows = page.all(after); rows.length > 0; rows = page.all(after)) {
      for (const { rowid_, ...row } of rows) {
        const rowHash = createHash('sha256').update(JSON.stringify(row, bigintAsString)).digest('hex');
        sum = (sum + BigInt(`0x${rowHash}`)) % MOD_256;
        after = Number(rowid_);
      }
    }
    tables.update(`${table}:${sum.toString(16)}\n`);
  }
  return tables.digest('hex');
}

const bigintAsString = (_: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);
