/**
 * The embedded event store and the read models, each measured against its target.
 * - `sqlite-append`: single-event commands per second, each an append at its expected revision
 *   through the SQLite store (synchronous=FULL: one fsync per command);
 * - `sqlite-append-concurrent`: the same commands from 16 writers at once, whose appends share
 *   commits (group commit: one transaction and one fsync for the appends made at once);
 * - `sqlite-append-batch`: events per second in appends of 100 events;
 * - `projection-rebuild`: `faasbox projections rebuild` over a seeded log of 1 000 000 events
 *   (100 000 with --quick), in events per second, with its peak RSS.
 * Each is compared with its target (baselineMedian = the target, ratio = measured / target): the
 * ratio then says whether the target is met, which is what this benchmark is for. The appends'
 * notes add a raw better-sqlite3 loop with the same table and durability, measured in the same
 * run: `storeOverRaw` near 1 means the disk (an fsync per commit), not the store, sets the rate.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createSqliteEventStore } from '../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import type { NewEvent } from '../src/ports/event-store.ts';
import { type BenchOptions, type Figure, compare, concurrentRate, median, percentile } from './figure.ts';
import { loadAverage } from './load-average.ts';
import { profileEnv } from './profile-env.ts';
import { seedEventLog } from './seed-event-log.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export const TARGETS = {
  commandsPerSecond: 5_000,
  concurrentCommandsPerSecond: 20_000,
  batchEventsPerSecond: 50_000,
  rebuildEventsPerSecond: 100_000,
  rebuildPeakRssMb: 500,
} as const;

const BATCH = 100;
/** Writers appending at once in `sqlite-append-concurrent`. */
const WRITERS = 16;
/** Commands spread over this many streams, each appended at the revision its writer last saw. */
const STREAMS = 1_000;
/** A rate is sampled over windows this long: their median and p95 are the figure's. */
const WINDOW_MS = 250;

/** `profileDir`: each `faasbox projections rebuild` runs under bench/cpu-profile.mjs. */
export async function benchStorage(options: BenchOptions & { profileDir?: string }): Promise<Figure[]> {
  const plan = options.quick
    ? { appendSeconds: 1.5, rawSeconds: 0.5, rebuildEvents: 100_000, rebuildRuns: 2 }
    : { appendSeconds: 5, rawSeconds: 2, rebuildEvents: 1_000_000, rebuildRuns: 3 };
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-bench-storage-'));
  try {
    return [
      await benchSingleAppends(join(dir, 'single'), plan),
      await benchConcurrentAppends(join(dir, 'concurrent'), plan),
      await benchBatchAppends(join(dir, 'batch'), plan),
      await benchRebuild(join(dir, 'rebuild'), plan, profileEnv(options.profileDir)),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Plan = { appendSeconds: number; rawSeconds: number; rebuildEvents: number; rebuildRuns: number };

/** What a command writes: one event of a few hundred bytes (an execution's start, say). */
const newEvent = (): NewEvent => ({
  id: randomUUID(),
  type: 'ExecutionStarted',
  data: { workerId: 'worker-1', containerId: randomUUID().replaceAll('-', '').repeat(2), startedAt: new Date().toISOString() },
  metadata: { correlationId: randomUUID() },
});

async function benchSingleAppends(prefix: string, plan: Plan): Promise<Figure> {
  const store = createSqliteEventStore(openBetterSqlite3(`${prefix}-store.sqlite`));
  const heads = new Map<string, number>();
  const latencies: number[] = [];
  const windows = await sampleRate(plan.appendSeconds, async (i) => {
    const stream = `execution-${i % STREAMS}`;
    const head = heads.get(stream);
    const started = performance.now();
    const { nextRevision } = await store.append(stream, [newEvent()], head ?? 'no_stream');
    latencies.push(performance.now() - started);
    heads.set(stream, nextRevision);
    return 1;
  });
  await store.close();
  const raw = rawInsertRate(`${prefix}-raw.sqlite`, 1, plan.rawSeconds);
  return compare('sqlite-append', 'commands/s', windows, target(TARGETS.commandsPerSecond), {
    what: 'single-event appends at the expected revision, synchronous=FULL (an fsync per command)',
    appendLatencyMs: { median: round(median(latencies)), p95: round(percentile(latencies, 95)) },
    commands: latencies.length,
    rawBetterSqlite3: {
      what: 'BEGIN IMMEDIATE; INSERT; COMMIT per row, same table and pragmas, no store around it',
      rowsPerSecond: Math.round(raw),
      storeOverRaw: round(median(windows) / raw),
    },
    windowMs: WINDOW_MS,
    loadAverage: loadAverage(),
  });
}

async function benchConcurrentAppends(prefix: string, plan: Plan): Promise<Figure> {
  const store = createSqliteEventStore(openBetterSqlite3(`${prefix}-store.sqlite`));
  const heads = new Map<string, number>();
  const latencies: number[] = [];
  // Each writer has streams of its own, as requests for different executions do.
  const windows = await concurrentRate(plan.appendSeconds, WRITERS, WINDOW_MS, async (writer, i) => {
    const stream = `execution-${writer}-${i % (STREAMS / WRITERS)}`;
    const started = performance.now();
    const { nextRevision } = await store.append(stream, [newEvent()], heads.get(stream) ?? 'no_stream');
    latencies.push(performance.now() - started);
    heads.set(stream, nextRevision);
    return true;
  });
  await store.close();
  return compare('sqlite-append-concurrent', 'commands/s', windows, target(TARGETS.concurrentCommandsPerSecond), {
    what: `single-event appends at the expected revision from ${WRITERS} writers at once, synchronous=FULL (appends made at once share a commit)`,
    writers: WRITERS,
    appendLatencyMs: { median: round(median(latencies)), p95: round(percentile(latencies, 95)) },
    commands: latencies.length,
    windowMs: WINDOW_MS,
    loadAverage: loadAverage(),
  });
}

async function benchBatchAppends(prefix: string, plan: Plan): Promise<Figure> {
  const store = createSqliteEventStore(openBetterSqlite3(`${prefix}-store.sqlite`));
  let appends = 0;
  const windows = await sampleRate(plan.appendSeconds, async (i) => {
    await store.append(`execution-${i}`, Array.from({ length: BATCH }, newEvent), 'no_stream');
    appends++;
    return BATCH;
  });
  await store.close();
  const raw = rawInsertRate(`${prefix}-raw.sqlite`, BATCH, plan.rawSeconds);
  return compare('sqlite-append-batch', 'events/s', windows, target(TARGETS.batchEventsPerSecond), {
    what: `appends of ${BATCH} events to a new stream each, synchronous=FULL`,
    appends,
    rawBetterSqlite3: {
      what: `${BATCH} INSERTs per transaction, same table and pragmas, no store around it`,
      rowsPerSecond: Math.round(raw),
      storeOverRaw: round(median(windows) / raw),
    },
    windowMs: WINDOW_MS,
    loadAverage: loadAverage(),
  });
}

/**
 * Runs `work` back to back for `seconds` and returns its rate (units per second, as `work`
 * counts them) in each window of WINDOW_MS.
 */
async function sampleRate(seconds: number, work: (i: number) => Promise<number>): Promise<number[]> {
  const rates: number[] = [];
  const end = performance.now() + seconds * 1000;
  let windowStart = performance.now();
  let done = 0;
  for (let i = 0; performance.now() < end; i++) {
    done += await work(i);
    const now = performance.now();
    if (now - windowStart >= WINDOW_MS) {
      rates.push((done * 1000) / (now - windowStart));
      windowStart = now;
      done = 0;
    }
  }
  return rates;
}

/**
 * The ceiling under the store: rows per second into the same table with the same pragmas
 * (WAL, synchronous=FULL), `perTransaction` rows per BEGIN IMMEDIATE … COMMIT.
 */
function rawInsertRate(path: string, perTransaction: number, seconds: number): number {
  createSqliteEventStore(openBetterSqlite3(path)).close();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(
    'INSERT INTO events (stream_name, revision, id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const started = performance.now();
  let rows = 0;
  for (let stream = 0; performance.now() - started < seconds * 1000; stream++) {
    db.exec('BEGIN IMMEDIATE');
    for (let revision = 0; revision < perTransaction; revision++) {
      const event = newEvent();
      insert.run(`raw-${stream}`, revision, event.id, event.type, JSON.stringify(event.data), JSON.stringify(event.metadata), new Date().toISOString());
    }
    db.exec('COMMIT');
    rows += perTransaction;
  }
  const rate = (rows * 1000) / (performance.now() - started);
  db.close();
  return rate;
}

type RebuildSummary = {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMb: number;
  projections: { name: string; digestBefore: string; digestAfter: string; checkpointBefore: number }[];
};

/**
 * `faasbox projections rebuild --json`, as an operator runs it, over a seeded log: the rate it
 * prints (replay and commits, not the digests around them) and the process's peak RSS. The
 * first run fills empty read models; each later one must end with the same digests.
 */
async function benchRebuild(dataDir: string, plan: Plan, env: Record<string, string>): Promise<Figure> {
  mkdirSync(dataDir);
  const seedStarted = performance.now();
  const mix = seedEventLog(join(dataDir, 'events.sqlite'), plan.rebuildEvents);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const runs: RebuildSummary[] = [];
  for (let run = 0; run < plan.rebuildRuns; run++) runs.push(await runRebuild(dataDir, env));
  const rates = runs.map((run) => run.eventsPerSecond);
  const peakRssMb = Math.max(...runs.map((run) => run.peakRssMb));
  const digestsStable = runs.slice(1).every((run) => run.projections.every((p) => p.digestBefore === p.digestAfter));
  return compare('projection-rebuild', 'events/s', rates, target(TARGETS.rebuildEventsPerSecond), {
    events: runs[0]?.events,
    runs: runs.length,
    secondsPerRun: runs.map((run) => round(run.seconds)),
    peakRssMb,
    peakRssTargetMb: TARGETS.rebuildPeakRssMb,
    peakRssWithinTarget: peakRssMb < TARGETS.rebuildPeakRssMb,
    digestsEqualAcrossRuns: digestsStable,
    mix,
    seedSeconds: round(seedSeconds),
    loadAverage: loadAverage(),
  });
}

function runRebuild(dataDir: string, env: Record<string, string>): Promise<RebuildSummary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'faasbox.mjs'), 'projections', 'rebuild', '--json'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FAASBOX_DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`faasbox projections rebuild exited with ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as RebuildSummary);
      } catch (error) {
        reject(new Error(`faasbox projections rebuild printed no summary:\n${stdout}\n${stderr}`, { cause: error }));
      }
    });
  });
}

/** A target as a baseline: one sample, so its median is the target itself. */
const target = (value: number) => ({ name: `target ${value}`, samples: [value] });

const round = (value: number) => Math.round(value * 100) / 100;
