/**
 * The parts of Bun's and Deno's SQLite drivers the adapters beside this file call. Node 20's
 * types (@types/node 20, which tsc and deno check both read) declare neither module; deno.json
 * names this file too. Drop the node:sqlite half when @types/node reaches 22, which declares it.
 */

declare module 'bun:sqlite' {
  type Value = string | number | bigint | null;
  export class Database {
    constructor(path: string, options?: { create?: boolean; strict?: boolean });
    exec(sql: string): void;
    prepare(sql: string): Statement;
    close(): void;
  }
  export class Statement {
    run(...params: Value[]): { changes: number; lastInsertRowid: number | bigint };
    get(...params: Value[]): Record<string, unknown> | null;
    all(...params: Value[]): Record<string, unknown>[];
    values(...params: Value[]): Value[][];
  }
}

declare module 'node:sqlite' {
  type Value = string | number | bigint | null;
  export class DatabaseSync {
    constructor(path: string);
    exec(sql: string): void;
    prepare(sql: string): StatementSync;
    close(): void;
  }
  export class StatementSync {
    run(...params: Value[]): { changes: number | bigint; lastInsertRowid: number | bigint };
    get(...params: Value[]): Record<string, unknown> | undefined;
    all(...params: Value[]): Record<string, unknown>[];
    /** From then on, rows are arrays of their values in column order (Node 22.16, Deno 2.4). */
    setReturnArrays(enabled: boolean): void;
  }
}
