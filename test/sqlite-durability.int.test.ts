/**
 * The SQLite event store with real processes on a real file: what an append acknowledged before
 * kill -9 is still there, and processes racing on one stream never share a revision.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

type Fixture = {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  /** True once the process has exited and all of its output has been read. */
  ended(): boolean;
  stderr(): string;
};

function startFixture(script: string, args: string[]): Fixture {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/fixtures', script), ...args], {
    cwd: root,
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  let ended = false;
  child.on('close', () => {
    ended = true;
  });
  return { child, lines, ended: () => ended, stderr: () => stderr };
}

async function eventually(check: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasbox-durability-'));
  return body(dir).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

const test = suite('sqlite durability [real processes]');

type Acknowledged = { stream: string; ids: string[]; nextRevision: number; position: number };

/** Starts the appender, kills it with -9 once `lines` appends were acknowledged, and returns them. */
async function acknowledgedBeforeKill(file: string, args: string[], lines: number): Promise<Acknowledged[]> {
  const appender = startFixture('append-until-killed.ts', [file, ...args]);
  try {
    await eventually(
      () => appender.lines.length >= lines,
      () => `${lines} acknowledged appends (stderr: ${appender.stderr()})`,
      8_000,
    );
    appender.child.kill('SIGKILL');
    await eventually(appender.ended, () => 'the killed process to end', 2_000);
  } finally {
    appender.child.kill('SIGKILL');
  }
  assert.is(appender.child.signalCode, 'SIGKILL', 'killed, not finished');
  return appender.lines.map((line) => JSON.parse(line) as Acknowledged);
}

/** Every acknowledged batch of the stream is stored whole, at its revisions and position. */
function assertAcknowledgedStored(stream: string, stored: RecordedEvent[], acknowledged: Acknowledged[]) {
  assert.equal(
    stored.map((event) => event.revision),
    stored.map((_, i) => i),
    `${stream}: revisions 0, 1, 2… with no gap`,
  );
  assert.is(stored.length % 3, 0, `${stream}: a batch is written whole or not at all`);
  // The process may have been killed after a commit and before it printed the result.
  const batches = stored.length / 3;
  assert.ok(
    batches === acknowledged.length || batches === acknowledged.length + 1,
    `${stream}: ${batches} batches stored, ${acknowledged.length} acknowledged`,
  );
  for (const ack of acknowledged) {
    const batch = stored.slice(ack.nextRevision - 2, ack.nextRevision + 1);
    assert.equal(
      batch.map((event) => event.id),
      ack.ids,
    );
    assert.is(batch[2]?.position, ack.position);
  }
}

test('every append acknowledged before kill -9 is in the file, and no batch is torn', () =>
  withTempDir(async (dir) => {
    const file = path.join(dir, 'events.sqlite');
    const acknowledged = await acknowledgedBeforeKill(file, ['order-1'], 200);
    const store = createSqliteEventStore(openBetterSqlite3(file));
    try {
      assertAcknowledgedStored('order-1', await store.readStream('order-1'), acknowledged);
    } finally {
      await store.close();
    }
  }),
);

test('sixteen writers whose appends share commits: every acknowledged one survives kill -9, none torn', () =>
  withTempDir(async (dir) => {
    const file = path.join(dir, 'events.sqlite');
    const acknowledged = await acknowledgedBeforeKill(file, ['order', '16'], 1_000);
    const store = createSqliteEventStore(openBetterSqlite3(file));
    try {
      const streams = [...new Set(acknowledged.map((ack) => ack.stream))];
      assert.ok(streams.length >= 8, `writers interleaved: ${streams.length} streams acknowledged`);
      for (const stream of streams) {
        assertAcknowledgedStored(stream, await store.readStream(stream), acknowledged.filter((ack) => ack.stream === stream));
      }
    } finally {
      await store.close();
    }
  }),
);

test('two processes racing on one stream: one event per revision, every conflict retried', () =>
  withTempDir(async (dir) => {
    const file = path.join(dir, 'events.sqlite');
    const perWorker = 100;
    // Opened first so the schema exists before the workers race to create it; it also follows
    // the race from a third connection, which only polling can show it.
    const observer = createSqliteEventStore(openBetterSqlite3(file), { pollIntervalMs: 20 });
    const observed: RecordedEvent[] = [];
    const subscription = observer.subscribeToAll((event) => void observed.push(event));
    const workers = ['a', 'b'].map((name) =>
      startFixture('contend-for-stream.ts', [file, 'slots-1', name, String(perWorker)]),
    );
    try {
      await eventually(
        () => workers.every((worker) => worker.lines[0] === 'ready'),
        () => `workers ready (stderr: ${workers.map((worker) => worker.stderr()).join(' | ')})`,
        5_000,
      );
      for (const worker of workers) worker.child.stdin.end('go\n');
      await eventually(
        () => workers.every((worker) => worker.lines.length === 2),
        () => `workers done (stderr: ${workers.map((worker) => worker.stderr()).join(' | ')})`,
        8_000,
      );
      await eventually(() => workers.every((worker) => worker.ended()), () => 'workers to exit', 2_000);
      const reports = workers.map((worker) => JSON.parse(worker.lines[1]!) as { appended: number; conflicts: number });

      const stored = await observer.readStream('slots-1');
      assert.equal(
        stored.map((event) => event.revision),
        stored.map((_, i) => i),
        'each revision held by exactly one event',
      );
      assert.is(stored.length, reports[0]!.appended + reports[1]!.appended);
      assert.equal(
        stored.map((event) => event.id).sort(),
        ['a', 'b'].flatMap((name) => Array.from({ length: perWorker }, (_, i) => `${name}-${i}`)).sort(),
        'every successful append stored once',
      );
      assert.ok(reports[0]!.conflicts + reports[1]!.conflicts > 0, 'the processes did race');

      await eventually(() => observed.length === stored.length, () => `the observer (${observed.length} seen)`, 2_000);
      assert.equal(
        observed.map((event) => event.id),
        stored.map((event) => event.id),
        'another process saw every event, in order',
      );
    } finally {
      for (const worker of workers) worker.child.kill('SIGKILL');
      await subscription.close();
      await observer.close();
    }
  }),
);

test.run();
