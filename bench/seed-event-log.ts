import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { createSqliteEventStore } from '../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';

/** How many of each kind of event a seeded log holds. */
export type EventMix = Record<string, number>;

/** Users per this many events: 1 000 users, 10 000 functions and ~196 000 executions in 1 000 000. */
const EVENTS_PER_USER = 1_000;
const FUNCTIONS_PER_USER = 10;
const TOKENS_PER_USER = 3;
/** Executions run this many at a time, so slot events carry several leases and streams interleave. */
const CONCURRENT = 4;
const STEP_MS = 10;

/**
 * Writes `count` events shaped as the platform writes them (src/domain/*.ts) into a new SQLite
 * event store at `path`: accounts (email reservation, registration, tokens), functions (a few
 * deleted), then executions, each a slot reservation, queued, started, an outcome (90 %
 * succeeded, 7 % failed, 3 % timed out) and the slot's release; a few accounts are deleted at
 * the end. The store creates its own schema; the rows then go in with plain INSERTs in one
 * transaction, which takes seconds where a million appends through the store would take minutes.
 */
export function seedEventLog(path: string, count: number): EventMix {
  createSqliteEventStore(openBetterSqlite3(path)).close();
  const db = new Database(path);
  // Seeding is set-up, not what is measured: no fsync, and the whole index in memory.
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const insert = db.prepare(
    'INSERT INTO events (stream_name, revision, id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const revisions = new Map<string, number>();
  const mix: EventMix = {};
  let written = 0;
  let clock = Date.UTC(2026, 0, 1);
  const iso = (ms: number) => new Date(ms).toISOString();

  const write = (stream: string, type: string, data: unknown) => {
    const revision = (revisions.get(stream) ?? -1) + 1;
    revisions.set(stream, revision);
    clock += STEP_MS;
    insert.run(stream, revision, randomUUID(), type, JSON.stringify(data), JSON.stringify({ correlationId: randomUUID() }), iso(clock));
    mix[type] = (mix[type] ?? 0) + 1;
    written++;
  };

  const users = Math.max(1, Math.round(count / EVENTS_PER_USER));
  const accounts: { userId: string; emailStream: string }[] = [];
  const functions: { functionId: string; ownerId: string; timeoutMs: number }[] = [];

  db.transaction(() => {
    for (let u = 0; u < users; u++) {
      const userId = randomUUID();
      const email = `user-${u}@example.com`;
      const emailStream = `email-${randomUUID().replaceAll('-', '')}${randomUUID().replaceAll('-', '')}`;
      write(emailStream, 'EmailReserved', { userId, reservedAt: iso(clock) });
      write(`user-${userId}`, 'UserRegistered', { userId, email, passwordHash: `$2b$10$${'x'.repeat(53)}`, registeredAt: iso(clock) });
      for (let t = 0; t < TOKENS_PER_USER; t++) {
        const issuedAt = Math.floor(clock / 1000) * 1000;
        write(`user-${userId}`, 'TokenIssued', { jti: randomUUID(), issuedAt: iso(issuedAt), expiresAt: iso(issuedAt + 3_600_000) });
      }
      for (let f = 0; f < FUNCTIONS_PER_USER; f++) {
        const functionId = randomUUID();
        const timeoutMs = 30_000;
        write(`function-${functionId}`, 'FunctionCreated', {
          functionId,
          ownerId: userId,
          name: `fn-${f}`,
          image: '127.0.0.1:5000/faasbox/busybox:1',
          command: ['sh', '-c', 'tr a-z A-Z'],
          env: { LANG: 'C' },
          timeoutMs,
          memoryMb: 128,
          createdAt: iso(clock),
        });
        // One function in twenty is deleted by its owner at once; the others run executions.
        if (u % 2 === 0 && f === 0) {
          write(`function-${functionId}`, 'FunctionDeleted', { functionId, deletedAt: iso(clock), reason: 'deleted by owner' });
        } else {
          functions.push({ functionId, ownerId: userId, timeoutMs });
        }
      }
      accounts.push({ userId, emailStream });
    }

    const deletedAccounts = Math.floor(users / 100);
    const reserveForDeletions = deletedAccounts * 2;
    let n = 0;
    while (written + CONCURRENT * 5 <= count - reserveForDeletions) {
      const group = Array.from({ length: CONCURRENT }, () => {
        const fn = functions[(n * 7919) % functions.length]!;
        const executionId = randomUUID();
        const queuedAt = clock;
        n++;
        return { ...fn, executionId, queuedAt, slots: `slots-${fn.ownerId}` };
      });
      const leases = new Map<string, { executionId: string; leaseUntil: string }[]>();
      for (const execution of group) {
        const deadline = execution.queuedAt + execution.timeoutMs + 30_000;
        const active = [...(leases.get(execution.slots) ?? []), { executionId: execution.executionId, leaseUntil: iso(deadline + 30_000) }];
        leases.set(execution.slots, active);
        write(execution.slots, 'SlotReserved', { ...active.at(-1)!, active });
        write(`execution-${execution.executionId}`, 'ExecutionQueued', {
          executionId: execution.executionId,
          functionId: execution.functionId,
          ownerId: execution.ownerId,
          image: '127.0.0.1:5000/faasbox/busybox:1',
          timeoutMs: execution.timeoutMs,
          stdinBytes: 18,
          queuedAt: iso(execution.queuedAt),
          deadline: iso(deadline),
          slotStreams: [execution.slots],
        });
      }
      for (const execution of group) {
        write(`execution-${execution.executionId}`, 'ExecutionStarted', {
          workerId: 'worker-1',
          containerId: randomUUID().replaceAll('-', '').repeat(2),
          startedAt: iso(clock),
        });
      }
      group.forEach((execution, i) => {
        const stream = `execution-${execution.executionId}`;
        const roll = (n + i) % 100;
        if (roll < 90) {
          write(stream, 'ExecutionSucceeded', { exitCode: 0, stdout: 'HELLO FROM FAASBOX\n', stderr: '', truncated: false, durationMs: 38, finishedAt: iso(clock) });
        } else if (roll < 97) {
          write(stream, 'ExecutionFailed', { exitCode: 1, stdout: '', stderr: 'sh: boom\n', truncated: false, durationMs: 41, reason: 'exited with 1', finishedAt: iso(clock) });
        } else {
          write(stream, 'ExecutionTimedOut', { stdout: '', stderr: '', truncated: false, durationMs: execution.timeoutMs, finishedAt: iso(clock) });
        }
        const active = (leases.get(execution.slots) ?? []).filter((lease) => lease.executionId !== execution.executionId);
        leases.set(execution.slots, active);
        write(execution.slots, 'SlotReleased', { executionId: execution.executionId, active });
      });
    }

    // Exactly `count`: the few events the groups of executions leave over are logins.
    for (let u = 0; written < count - reserveForDeletions; u++) {
      const issuedAt = Math.floor(clock / 1000) * 1000;
      write(`user-${accounts[u % users]!.userId}`, 'TokenIssued', { jti: randomUUID(), issuedAt: iso(issuedAt), expiresAt: iso(issuedAt + 3_600_000) });
    }
    for (const account of accounts.slice(0, deletedAccounts)) {
      write(`user-${account.userId}`, 'UserDeleted', { userId: account.userId, deletedAt: iso(clock) });
      write(account.emailStream, 'EmailReleased', { userId: account.userId, releasedAt: iso(clock) });
    }
  })();
  db.close();
  return mix;
}
