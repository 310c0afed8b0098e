/**
 * kill -9 during appends to the SQLite event store, again and again: no acknowledged event is
 * lost, none changes place, no batch is torn, and writing goes on at the right revision.
 *   (a) two writer processes on one file (support/append-child.ts), each killed at a random
 *       moment, round after round, on two files at once: single events and batches, streams of
 *       their own and one they share, each append at the revision its writer expects.
 *   (b) the platform itself (role all) killed while it answers registrations and function
 *       creations: after a restart, every 201 can be read back over HTTP.
 * test/sqlite-durability.int.test.ts kills one writer of one stream once; this goes further.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../../src/adapters/event-store/index.ts';
import { openBetterSqlite3 } from '../../src/adapters/sqlite/better-sqlite3-driver.ts';
import { type RecordedEvent, WrongExpectedRevisionError } from '../../src/ports/event-store.ts';
import { call, uniqueEmail } from '../support/http-client.ts';
import { type ServerProcess, startServer, tempDir } from '../support/server-process.ts';
import { reportFigure } from './support/report.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const APPEND_CHILD = join(root, 'test/reliability/support/append-child.ts');

/** Two writers per round, each killed: FILES × ROUNDS_PER_FILE × 2 kills. */
const FILES = 2;
const ROUNDS_PER_FILE = 6;
const WRITERS = ['a', 'b'] as const;
const STREAMS_PER_WRITER = 3;
/** How long after its first acknowledged append a writer may live: the kill lands anywhere in there. */
const MAX_LIFETIME_AFTER_FIRST_ACK_MS = 300;

const PLATFORM_KILL_ROUNDS = 2;
const PLATFORM_CLIENTS = 4;
const PASSWORD = 'correct horse battery';

// ---- helpers

/** As support/append-child.ts prints it. */
type AckLine = { stream: string; ids: string[]; nextRevision: number; position: number };
/** Where an acknowledged event must be found; the position is known for the last of its batch only. */
type AckedEvent = { stream: string; revision: number; position: number | null };

type Appender = {
  writer: string;
  child: ChildProcessWithoutNullStreams;
  acks: AckLine[];
  stderr(): string;
  ended: Promise<void>;
};

/**
 * The writer as one plain JavaScript file: started under tsx, each of the many writers would
 * spend most of its short life compiling (seconds each on a loaded machine). better-sqlite3 stays
 * outside, imported by its absolute path, since its native part cannot be bundled.
 */
async function compileAppendChild(outDir: string): Promise<string> {
  const outfile = join(outDir, 'append-child.mjs');
  const require = createRequire(import.meta.url);
  await build({
    entryPoints: [APPEND_CHILD],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    plugins: [
      {
        name: 'packages-where-they-are',
        setup(bundler) {
          bundler.onResolve({ filter: /^[^./]/ }, ({ path }) => ({ path: path.startsWith('node:') ? path : require.resolve(path), external: true }));
        },
      },
    ],
  });
  return outfile;
}

function startAppender(script: string, file: string, writer: string, round: number): Appender {
  const child = spawn(process.execPath, [script, file, writer, String(round), String(STREAMS_PER_WRITER)], { cwd: root });
  const acks: AckLine[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => acks.push(JSON.parse(line) as AckLine));
  // Ended once the process is gone and every line it wrote has been read.
  const ended = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { writer, child, acks, stderr: () => stderr, ended };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what()}`);
    await sleep(5);
  }
}

/** Lets the writer append for a random while after its first acknowledgement, then kill -9. */
async function killAtRandomMoment(appender: Appender): Promise<void> {
  try {
    await eventually(
      () => appender.acks.length > 0 || appender.child.exitCode !== null,
      () => `a first append by writer ${appender.writer} (stderr: ${appender.stderr()})`,
      20_000,
    );
    await sleep(Math.random() * MAX_LIFETIME_AFTER_FIRST_ACK_MS);
  } finally {
    appender.child.kill('SIGKILL');
    await appender.ended;
  }
  assert.is(appender.child.signalCode, 'SIGKILL', `writer ${appender.writer} was killed, not ended on its own: ${appender.stderr()}`);
}

/** `<writer>-<round>-<append>/<index>/<size>`: which append an event belongs to, and its place in it. */
function parseId(id: string): { append: string; index: number; size: number } {
  const [append = '', index = '', size = ''] = id.split('/');
  return { append, index: Number(index), size: Number(size) };
}

function rememberAcks(acks: readonly AckLine[], acked: Map<string, AckedEvent>, ackedAppends: Set<string>): void {
  for (const ack of acks) {
    ackedAppends.add(parseId(ack.ids[0] ?? '').append);
    ack.ids.forEach((id, index) => {
      const last = index === ack.ids.length - 1;
      acked.set(id, { stream: ack.stream, revision: ack.nextRevision - (ack.ids.length - 1) + index, position: last ? ack.position : null });
    });
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}

/** What the file holds: how many events and streams, and the key of every append found in it. */
type StoreCheck = { events: number; streams: number; appends: string[] };

/**
 * Reopens the file as a restarted process would and checks what it holds against what was
 * acknowledged: every acknowledged event in its place, the global log strictly increasing,
 * every stream without gap or duplicate, every append whole and contiguous.
 */
async function checkStore(file: string, acked: ReadonlyMap<string, AckedEvent>): Promise<StoreCheck> {
  const store = createSqliteEventStore(openBetterSqlite3(file));
  try {
    const all = await store.readAll();
    const byId = new Map(all.map((event) => [event.id, event]));
    assert.is(byId.size, all.length, 'every event id stored once');
    for (let i = 1; i < all.length; i++) {
      assert.ok((all[i]?.position ?? 0) > (all[i - 1]?.position ?? 0), `positions strictly increase at ${all[i]?.id}`);
    }

    const streams = groupBy(all, (event) => event.streamName);
    for (const [stream, events] of streams) {
      assert.equal(
        events.map((event) => event.revision),
        events.map((_, i) => i),
        `${stream}: revisions 0, 1, 2… with no gap and no duplicate`,
      );
    }

    for (const [id, expected] of acked) {
      const stored = byId.get(id);
      assert.ok(stored, `acknowledged event ${id} is stored`);
      assert.is(stored.streamName, expected.stream, `${id}: its stream`);
      assert.is(stored.revision, expected.revision, `${id}: its revision`);
      if (expected.position !== null) assert.is(stored.position, expected.position, `${id}: its position`);
    }

    const appends = groupBy(all, (event) => parseId(event.id).append);
    for (const [append, events] of appends) assertWholeAndContiguous(append, events, all);
    return { events: all.length, streams: streams.size, appends: [...appends.keys()] };
  } finally {
    await store.close();
  }
}

/** An append is all of its events, at consecutive revisions of one stream, with nothing between them in the global log. */
function assertWholeAndContiguous(append: string, events: RecordedEvent[], all: RecordedEvent[]): void {
  const { size } = parseId(events[0]?.id ?? '');
  assert.is(events.length, size, `append ${append} is whole: ${events.length} of ${size} events stored`);
  const first = events[0] as RecordedEvent;
  const start = all.indexOf(first);
  events.forEach((event, index) => {
    assert.is(parseId(event.id).index, index, `append ${append}: its events in order`);
    assert.is(event.streamName, first.streamName, `append ${append}: one stream`);
    assert.is(event.revision, first.revision + index, `append ${append}: consecutive revisions`);
    assert.is(all[start + index], event, `append ${append}: nothing between its events in the global log`);
  });
}

/**
 * What a restarted writer does: append at the revision the file shows, which must succeed and be
 * the next one, and at a stale revision, which must be refused. The new events are acknowledged too.
 */
async function checkAppendsContinue(file: string, round: number, acked: Map<string, AckedEvent>): Promise<number> {
  const store = createSqliteEventStore(openBetterSqlite3(file));
  try {
    const streams = [...new Set((await store.readAll()).map((event) => event.streamName))];
    for (const stream of streams) {
      const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      assert.ok(last);
      const id = `check-${round}-${stream}/0/1`;
      const result = await store.append(stream, [{ id, type: 'CrashCheck', data: null, metadata: { correlationId: 'check' } }], last.revision);
      assert.is(result.nextRevision, last.revision + 1, `${stream}: the next revision after a restart`);
      assert.ok(result.position > last.position);
      acked.set(id, { stream, revision: result.nextRevision, position: result.position });
      const stale = await store
        .append(stream, [{ id: `stale-${round}-${stream}/0/1`, type: 'CrashCheck', data: null, metadata: { correlationId: 'check' } }], last.revision)
        .then(() => null, (error: unknown) => error);
      assert.instance(stale, WrongExpectedRevisionError, `${stream}: an append at a stale revision is refused`);
    }
    return streams.length;
  } finally {
    await store.close();
  }
}

// ---- platform level

type AckedUser = { email: string; id: string };
type AckedFunction = { email: string; body: Record<string, unknown> };
type PlatformAcks = { users: AckedUser[]; functions: AckedFunction[] };

/** Never run: a reference that names its digest is pinned to it without asking a registry, so only the store is under test. */
const NEVER_RUN_IMAGE = `127.0.0.1:5000/faasbox/busybox:1@sha256:${'0'.repeat(64)}`;

/**
 * One client registering users and creating functions as fast as the server answers, keeping
 * every 201, until the server dies under it.
 */
async function createUntilRefused(url: string, acks: PlatformAcks, stop: () => boolean): Promise<void> {
  try {
    while (!stop()) {
      const email = uniqueEmail('crash');
      const registered = await call(url, 'POST', '/v1/users', { json: { email, password: PASSWORD } });
      if (registered.status !== 201) throw new Error(`registration: ${registered.status} ${JSON.stringify(registered.body)}`);
      acks.users.push({ email, id: registered.body.id as string });
      const token = await login(url, email);
      for (let n = 0; n < 2; n++) {
        const created = await call(url, 'POST', '/v1/functions', {
          token,
          json: { name: `fn-${n}`, image: NEVER_RUN_IMAGE, command: ['echo', email], env: { N: String(n) } },
        });
        if (created.status !== 201) throw new Error(`function creation: ${created.status} ${JSON.stringify(created.body)}`);
        acks.functions.push({ email, body: created.body as Record<string, unknown> });
      }
    }
  } catch (error) {
    // A request the killed server never answered is not acknowledged; anything else is a failure.
    if (!stop()) throw error;
  }
}

async function login(url: string, email: string): Promise<string> {
  const reply = await call(url, 'POST', '/v1/tokens', { json: { email, password: PASSWORD } });
  assert.is(reply.status, 200, `login of ${email} after the crash: ${JSON.stringify(reply.body)}`);
  return reply.body.token as string;
}

/** Every acknowledged user can log in and is who the 201 said; every acknowledged function reads back as created. */
async function checkPlatformAcks(url: string, acks: PlatformAcks): Promise<void> {
  const tokens = new Map<string, string>();
  for (const user of acks.users) {
    const token = await login(url, user.email);
    tokens.set(user.email, token);
    const me = await call(url, 'GET', '/v1/users/me', { token });
    assert.is(me.status, 200);
    assert.is(me.body.id, user.id, `${user.email} is the user its 201 named`);
    const again = await call(url, 'POST', '/v1/users', { json: { email: user.email, password: PASSWORD } });
    assert.is(again.status, 409, `${user.email} is still taken`);
  }
  for (const fn of acks.functions) {
    const token = tokens.get(fn.email);
    assert.ok(token, `the owner of function ${String(fn.body.id)} was acknowledged first`);
    const read = await call(url, 'GET', `/v1/functions/${String(fn.body.id)}`, { token });
    assert.is(read.status, 200, `function ${String(fn.body.id)} after the crash: ${JSON.stringify(read.body)}`);
    assert.equal(read.body, fn.body);
  }
}

type CrashFigures = { kills: number; acknowledgedAppends: number; acknowledgedBatches: number; acknowledgedEvents: number; committedUnacknowledged: number; eventsInFiles: number };

/**
 * Rounds on one file: two writers started, each killed -9 at its own random moment, then the file
 * reopened and checked, and appended to as a restarted writer would. The next round's writers
 * carry on the same streams from what the file shows.
 */
async function crashRounds(script: string, file: string, figures: CrashFigures, alive: Appender[]): Promise<void> {
  const acked = new Map<string, AckedEvent>();
  const ackedAppends = new Set<string>();
  for (let round = 0; round < ROUNDS_PER_FILE; round++) {
    const appenders = WRITERS.map((writer) => startAppender(script, file, writer, round));
    alive.push(...appenders);
    await Promise.all(appenders.map(killAtRandomMoment));
    figures.kills += appenders.length;

    for (const appender of appenders) {
      rememberAcks(appender.acks, acked, ackedAppends);
      figures.acknowledgedAppends += appender.acks.length;
      figures.acknowledgedBatches += appender.acks.filter((ack) => ack.ids.length > 1).length;
      figures.acknowledgedEvents += appender.acks.reduce((sum, ack) => sum + ack.ids.length, 0);
    }
    const { appends } = await checkStore(file, acked);
    for (const appender of appenders) {
      // Killed after its commit and before its line: only the append it had in flight may be
      // stored without an acknowledgement.
      const inFlight = `${appender.writer}-${round}-${appender.acks.length}`;
      const unacknowledged = appends.filter((append) => append.startsWith(`${appender.writer}-${round}-`) && !ackedAppends.has(append));
      assert.ok(
        unacknowledged.length === 0 || (unacknowledged.length === 1 && unacknowledged[0] === inFlight),
        `writer ${appender.writer}: ${JSON.stringify(unacknowledged)} stored unacknowledged; only ${inFlight} may be`,
      );
      figures.committedUnacknowledged += unacknowledged.length;
    }
    await checkAppendsContinue(file, round, acked);
  }
  const final = await checkStore(file, acked);
  assert.is(final.streams, WRITERS.length * STREAMS_PER_WRITER + 1, 'every stream written');
  figures.eventsInFiles += final.events;
}

// ---- the suite

const test = suite('store crash: kill -9 during appends');

test(`(a) two writers killed -9 mid-append, ${FILES * ROUNDS_PER_FILE} times: every acknowledged event stays, in place`, async () => {
  const dir = tempDir('faasbox-store-crash-');
  const figures: CrashFigures = { kills: 0, acknowledgedAppends: 0, acknowledgedBatches: 0, acknowledgedEvents: 0, committedUnacknowledged: 0, eventsInFiles: 0 };
  const alive: Appender[] = [];
  try {
    // Files apart are faults apart: their rounds run side by side.
    const script = await compileAppendChild(dir);
    await Promise.all(Array.from({ length: FILES }, (_, n) => crashRounds(script, join(dir, `events-${n}.sqlite`), figures, alive)));
    assert.ok(figures.acknowledgedBatches > FILES * ROUNDS_PER_FILE, 'batches were acknowledged, not only single events');
    reportFigure('store-crash.sqlite-kill9', { ...figures, lost: 0, files: FILES, roundsPerFile: ROUNDS_PER_FILE, writersPerRound: WRITERS.length });
  } finally {
    for (const appender of alive) appender.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`(b) the platform killed -9 ${PLATFORM_KILL_ROUNDS} times while it registers users and creates functions: every 201 reads back`, async () => {
  const dataDir = tempDir('faasbox-store-crash-platform-');
  // The worker of role all is idle here; an engine that does not exist keeps it off the shared one.
  const env = {
    FAASBOX_JWT_SECRET: 'store-crash-secret-of-at-least-32-bytes!',
    FAASBOX_BCRYPT_COST: '10',
    DOCKER_HOST: `unix://${join(dataDir, 'no-docker.sock')}`,
  };
  const acks: PlatformAcks = { users: [], functions: [] };
  let server: ServerProcess | undefined;
  try {
    for (let round = 0; round < PLATFORM_KILL_ROUNDS; round++) {
      const running = await startServer({ role: 'all', dataDir, env });
      server = running;
      // What earlier kills left must have survived this restart as well.
      await checkPlatformAcks(running.url, acks);
      const target = acks.users.length + acks.functions.length + 6 + Math.floor(Math.random() * 10);
      let killed = false;
      let failure: unknown;
      const clients = Array.from({ length: PLATFORM_CLIENTS }, () =>
        createUntilRefused(running.url, acks, () => killed).catch((error: unknown) => (failure ??= error)),
      );
      await eventually(
        () => failure !== undefined || acks.users.length + acks.functions.length >= target,
        () => `${target} acknowledged requests`,
        30_000,
      );
      killed = true;
      await running.kill();
      await Promise.all(clients);
      if (failure !== undefined) throw failure;
    }
    server = await startServer({ role: 'all', dataDir, env });
    await checkPlatformAcks(server.url, acks);
    reportFigure('store-crash.platform-kill9', {
      kills: PLATFORM_KILL_ROUNDS,
      acknowledgedUsers: acks.users.length,
      acknowledgedFunctions: acks.functions.length,
      lost: 0,
    });
  } finally {
    await server?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
