/**
 * The `faasbox` command as a user types it: the real binary (`node bin/faasbox.mjs`), a real
 * server and a loopback registry, stdin piped in, stdout, stderr and the exit status read back,
 * and the credentials file on disk checked for its place and its modes.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniqueEmail } from './support/http-client.ts';
import { startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { freePort } from './support/service-process.ts';
import { ensureTestImages } from './support/test-images.ts';
import { deleteManifest, pushTag } from './support/registry-images.ts';
import { type CliRun, runFaasboxCli } from './support/faasbox-cli.ts';

const SECRET = 'cli-e2e-secret-of-at-least-32-bytes-long';
const PASSWORD = 'correct horse battery';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let server: ServerProcess;
let image: string;
/** A port nothing listens on. */
let closedUrl: string;

type Run = CliRun;
/** One user's machine: its own config directory. */
type Machine = { xdg: string; home: string; email: string };

const newMachine = (tag: string): Machine => ({ xdg: tempDir('faasbox-xdg-'), home: tempDir('faasbox-home-'), email: uniqueEmail(tag) });
const credentialsFile = (machine: Machine) => join(machine.xdg, 'faasbox', 'credentials.json');

/** `faasbox …args` with `input` on stdin (an empty pipe without it), as on `machine`. */
function faasbox(machine: Machine, args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const env = { HOME: machine.home, XDG_CONFIG_HOME: machine.xdg, FAASBOX_URL: server.url, ...options.env };
  return runFaasboxCli(args, { env, ...(options.input === undefined ? {} : { input: options.input }) });
}

const show = (run: Run) => `status ${run.status}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;

function assertOk(run: Run) {
  assert.is(run.status, 0, show(run));
}

async function signUp(machine: Machine) {
  assertOk(await faasbox(machine, ['register', '--email', machine.email], { input: `${PASSWORD}\n` }));
  assertOk(await faasbox(machine, ['login', '--email', machine.email], { input: `${PASSWORD}\n` }));
}

async function createFunction(machine: Machine, args: string[]): Promise<{ id: string; [key: string]: unknown }> {
  const run = await faasbox(machine, ['fn', 'create', '--json', ...args]);
  assertOk(run);
  return JSON.parse(run.stdout);
}

/** An HS256 token the server signed in every way but that its time is up. */
function expiredToken(email: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ sub: randomUUID(), email, jti: randomUUID(), iat: now - 7200, exp: now - 3600 })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

const ada = newMachine('ada');
let shout: { id: string; [key: string]: unknown };

const cli = suite('faasbox command line [real binary, real server]');

// Started in a test, not a hook: uvu would swallow a failed start.
cli('the platform starts with a loopback registry holding the test images', async () => {
  registry = await startRegistry();
  image = (await ensureTestImages(registry.address)).busybox;
  server = await startServer({
    env: {
      FAASBOX_JWT_SECRET: SECRET,
      FAASBOX_MAX_ACTIVE_PER_USER: '1',
      FAASBOX_EXECUTION_GRACE_MS: '5000',
      FAASBOX_DRAIN_TIMEOUT: '500',
      FAASBOX_WORKER_ID: `cli-e2e-${process.pid}`,
    },
  });
  closedUrl = `http://127.0.0.1:${await freePort()}`;
});

cli('usage errors exit 2 and say what is wrong', async () => {
  const cases: [string[], RegExp][] = [
    [['fn', 'create', 'shout'], /required option '--image <ref>' not specified/],
    [['fn', 'create', 'shout', '--image', image, '--env', 'NO_EQUALS_SIGN'], /'NO_EQUALS_SIGN' is invalid\. must be NAME=VALUE/],
    [['fn', 'create', 'shout', '--image', image, '--timeout', 'soon'], /'soon' is invalid\. must be a positive whole number/],
    [['fn', 'ls', '--url', 'ftp://example.com'], /^faasbox: --url must be an http or https URL: ftp:\/\/example.com\n$/],
    [['exec', 'ls', 'shout', '--limit', '0'], /must be a whole number from 1 to 1000/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const run = await faasbox(ada, args);
    assert.is(run.status, 2, `${args.join(' ')}: ${show(run)}`);
    assert.match(run.stderr, message);
    assert.is(run.stdout, '');
  }
});

cli('a server that cannot be reached is named, in one line, with no stack trace', async () => {
  const run = await faasbox(ada, ['register', '--email', ada.email, '--password', PASSWORD, '--url', closedUrl]);
  assert.is(run.status, 1, show(run));
  assert.is(run.stderr, `faasbox: cannot reach ${closedUrl}: is faasbox running? (ECONNREFUSED)\n`);

  const json = await faasbox(ada, ['fn', 'ls', '--json'], { env: { FAASBOX_URL: closedUrl } });
  assert.is(json.status, 1);
  // Not logged in to that server: refused before any request, as a JSON problem.
  assert.equal(JSON.parse(json.stderr), {
    type: 'urn:faasbox:cli:not-logged-in',
    title: 'Not logged in',
    detail: `not logged in to ${closedUrl}: run faasbox login --email <your email>`,
  });
});

cli('without a login every command says how to log in', async () => {
  const run = await faasbox(ada, ['fn', 'ls']);
  assert.is(run.status, 1);
  assert.is(run.stderr, `faasbox: not logged in to ${server.url}: run faasbox login --email <your email>\n`);
});

cli('register takes the password from the first line of stdin; a second registration is refused', async () => {
  // Only the first line is the password: the login below proves it.
  const run = await faasbox(ada, ['register', '--email', ada.email], { input: `${PASSWORD}\nnot part of it\n` });
  assertOk(run);
  assert.match(run.stdout, new RegExp(`^registered ${ada.email} \\(id ${UUID}\\); log in with: faasbox login --email ${ada.email}\\n$`));

  const again = await faasbox(ada, ['register', '--email', ada.email], { input: `${PASSWORD}\n` });
  assert.is(again.status, 1);
  assert.is(again.stderr, `faasbox: the email is already registered: log in with faasbox login --email ${ada.email}\n`);

  const noPassword = await faasbox(ada, ['register', '--email', uniqueEmail('nopw')]);
  assert.is(noPassword.status, 2);
  assert.match(noPassword.stderr, /no password: pipe it on stdin, give --password/);

  const short = await faasbox(ada, ['register', '--email', uniqueEmail('short'), '--password', 'short', '--json']);
  assert.is(short.status, 1);
  const problem = JSON.parse(short.stderr);
  assert.is(problem.type, 'urn:faasbox:problem:invalid-request');
  assert.is(problem.status, 400);
});

cli('login stores the token in $XDG_CONFIG_HOME/faasbox: directory 0700, file 0600 even under umask 000; the token is not printed', async () => {
  const wrong = await faasbox(ada, ['login', '--email', ada.email], { input: 'wrong horse battery\n' });
  assert.is(wrong.status, 1);
  assert.is(wrong.stderr, 'faasbox: wrong email or password\n');
  assert.not.ok(existsSync(credentialsFile(ada)), 'a failed login stores nothing');

  const umask = process.umask(0);
  let run: Run;
  try {
    run = await faasbox(ada, ['login', '--email', ada.email.toUpperCase()], { input: `${PASSWORD}\n` });
  } finally {
    process.umask(umask);
  }
  assertOk(run);
  assert.match(run.stdout, new RegExp(`^logged in to ${server.url} as ${ada.email} until \\S+Z \\(token in ${credentialsFile(ada)}\\)\\n$`));
  assert.is(statSync(join(ada.xdg, 'faasbox')).mode & 0o777, 0o700);
  assert.is(statSync(credentialsFile(ada)).mode & 0o777, 0o600);

  const stored = JSON.parse(readFileSync(credentialsFile(ada), 'utf8'));
  assert.is(stored.current, server.url);
  const login = stored.logins[server.url];
  assert.is(login.email, ada.email);
  assert.match(login.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.not.ok(run.stdout.includes(login.token) || run.stderr.includes(login.token), 'the token is not printed');

  const json = await faasbox(ada, ['login', '--email', ada.email, '--json'], { input: `${PASSWORD}\n` });
  assertOk(json);
  assert.equal(JSON.parse(json.stdout), { url: server.url, email: ada.email, expiresAt: login.expiresAt });

  // Asked for, the token is all of stdout, for `TOKEN=$(faasbox login … --print-token)`.
  const printed = await faasbox(ada, ['login', '--email', ada.email, '--print-token'], { input: `${PASSWORD}\n` });
  assertOk(printed);
  assert.is(printed.stdout, `${login.token}\n`);
  assert.match(printed.stderr, /^logged in to /);

  const whoami = await faasbox(ada, ['whoami', '--json']);
  assertOk(whoami);
  assert.is(JSON.parse(whoami.stdout).email, ada.email);
});

cli('without XDG_CONFIG_HOME the credentials go to ~/.config/faasbox', async () => {
  const bea = newMachine('bea');
  const env = { XDG_CONFIG_HOME: '' };
  assertOk(await faasbox(bea, ['register', '--email', bea.email, '--password', PASSWORD], { env }));
  assertOk(await faasbox(bea, ['login', '--email', bea.email, '--password', PASSWORD], { env }));
  const file = join(bea.home, '.config', 'faasbox', 'credentials.json');
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.not.ok(existsSync(credentialsFile(bea)));
  assertOk(await faasbox(bea, ['fn', 'ls'], { env }));
});

cli('fn create takes --env (a value may hold "=") and the command after --', async () => {
  shout = await createFunction(ada, [
    'shout',
    '--image', image,
    '--env', 'GREETING=a=b',
    '--env', 'LANG=C',
    '--timeout', '20000',
    '--memory', '64',
    '--', 'sh', '-c', 'tr a-z A-Z',
  ]);
  assert.equal(shout, {
    id: shout.id,
    name: 'shout',
    image,
    imageDigest: shout.imageDigest,
    command: ['sh', '-c', 'tr a-z A-Z'],
    env: { GREETING: 'a=b', LANG: 'C' },
    secrets: {},
    timeoutMs: 20000,
    memoryMb: 64,
    minWarm: 0,
    reuse: false,
    retry: null,
    createdAt: shout.createdAt,
    version: 1,
    versionCreatedAt: shout.createdAt,
    rolledBackFrom: null,
  });
  assert.match(String(shout.imageDigest), /^sha256:[0-9a-f]{64}$/);

  const reused = await createFunction(ada, ['reused', '--image', image, '--reuse', '--', 'cat']);
  assert.is(reused.reuse, true);
  const shown = await faasbox(ada, ['fn', 'get', 'reused']);
  assertOk(shown);
  assert.match(shown.stdout, /^containers\s+reused, cleaned between executions$/m);
  assertOk(await faasbox(ada, ['fn', 'rm', 'reused']));

  const text = await faasbox(ada, ['fn', 'create', 'greet', '--image', image, '--env', 'GREETING=a=b', '--', 'sh', '-c', 'printf %s "$GREETING"']);
  assertOk(text);
  assert.match(text.stdout, new RegExp(`^created function greet: ${UUID}\\n$`));

  const invalid = await faasbox(ada, ['fn', 'create', 'bad', '--image', 'not an image!', '--timeout', '999999999']);
  assert.is(invalid.status, 1);
  assert.match(invalid.stderr, /^faasbox: invalid request: --image: must be an image reference[^;]*; --timeout: .*300000\n$/);
  const tooWarm = await faasbox(ada, ['fn', 'create', 'warm', '--image', image, '--min-warm', '99']);
  assert.is(tooWarm.status, 1);
  assert.match(tooWarm.stderr, /^faasbox: invalid request: --min-warm: .*2\n$/);
});

cli('fn ls prints a table, and the API objects with --json', async () => {
  const text = await faasbox(ada, ['fn', 'ls']);
  assertOk(text);
  const [header, ...rows] = text.stdout.trimEnd().split('\n');
  assert.match(header!, /^ID\s+NAME\s+IMAGE\s+TIMEOUT\s+MEMORY\s+CREATED$/);
  assert.is(rows.length, 2);
  const row = rows.find((line) => line.startsWith(shout.id))!;
  assert.equal(row.split(/\s+/), [shout.id, 'shout', image, '20000ms', '64MB', shout.createdAt]);

  const json = await faasbox(ada, ['fn', 'ls', '--json']);
  assertOk(json);
  const { functions } = JSON.parse(json.stdout);
  assert.equal(functions.find((f: { id: string }) => f.id === shout.id), shout);
  assert.equal(functions.map((f: { name: string }) => f.name), ['greet', 'shout']);
});

cli('fn get shows one function, by name or by id', async () => {
  const text = await faasbox(ada, ['fn', 'get', 'shout']);
  assertOk(text);
  assert.match(text.stdout, new RegExp(`^id +${shout.id}$`, 'm'));
  assert.match(text.stdout, /^command +sh -c 'tr a-z A-Z'$/m);
  assert.match(text.stdout, /^env +GREETING=a=b LANG=C$/m);
  const json = await faasbox(ada, ['fn', 'get', shout.id, '--json']);
  assertOk(json);
  assert.equal(JSON.parse(json.stdout), shout);
});

cli('fn invoke: stdin goes in, the exact stdout comes out, exit 0, nothing else on stderr', async () => {
  const run = await faasbox(ada, ['fn', 'invoke', 'shout'], { input: 'hello\nfrom faasbox' });
  assertOk(run);
  assert.is(run.stdout, 'HELLO\nFROM FAASBOX', 'no newline added');
  assert.is(run.stderr, '', 'no spinner when stdout is not a terminal');

  const large = 'abc'.repeat(100_000);
  const big = await faasbox(ada, ['fn', 'invoke', shout.id], { input: large });
  assertOk(big);
  assert.is(big.stdout, large.toUpperCase());

  const env = await faasbox(ada, ['fn', 'invoke', 'greet']);
  assertOk(env);
  assert.is(env.stdout, 'a=b');

  const json = await faasbox(ada, ['fn', 'invoke', 'shout', '--json'], { input: 'json' });
  assertOk(json);
  const execution = JSON.parse(json.stdout);
  assert.is(execution.status, 'succeeded');
  assert.is(execution.stdout, 'JSON');
  assert.is(execution.functionId, shout.id);
});

cli('fn invoke --idempotency-key: a retry with the key gets the same execution, sync or --async; another input with the key is refused', async () => {
  await createFunction(ada, ['once', '--image', image, '--', 'cat']);
  const key = `cli-${Date.now()}`;
  const first = await faasbox(ada, ['fn', 'invoke', 'once', '--json', '--idempotency-key', key], { input: 'once' });
  assertOk(first);
  const execution = JSON.parse(first.stdout);
  const again = await faasbox(ada, ['fn', 'invoke', 'once', '--json', '--idempotency-key', key], { input: 'once' });
  assertOk(again);
  assert.equal(JSON.parse(again.stdout), execution);
  const queued = await faasbox(ada, ['fn', 'invoke', 'once', '--async', '--idempotency-key', key], { input: 'once' });
  assertOk(queued);
  assert.is(queued.stdout, `${execution.executionId}\n`);
  const other = await faasbox(ada, ['fn', 'invoke', 'once', '--idempotency-key', key], { input: 'twice' });
  assert.is(other.status, 1, show(other));
  assert.match(other.stderr, /Idempotency-Key/);
});

cli("a failing function: its stdout, its stderr and its exit code become the command's", async () => {
  await createFunction(ada, ['fails', '--image', image, '--', 'sh', '-c', 'echo out; echo oops >&2; exit 3']);
  const run = await faasbox(ada, ['fn', 'invoke', 'fails']);
  assert.is(run.status, 3, show(run));
  assert.is(run.stdout, 'out\n');
  assert.is(run.stderr, 'oops\n');
});

cli('a timeout exits 124 and says after how long', async () => {
  await createFunction(ada, ['sleepy', '--image', image, '--timeout', '1000', '--', 'sleep', '30']);
  const run = await faasbox(ada, ['fn', 'invoke', 'sleepy']);
  assert.is(run.status, 124, show(run));
  assert.match(run.stderr, new RegExp(`^faasbox: timed out after 1000 ms \\(execution ${UUID}\\)\\n$`));
});

/** A function pinned to an image that then leaves its registry: the platform cannot run it. */
async function ghostFunction(name: string, args: string[] = []): Promise<{ id: string; [key: string]: unknown }> {
  const gone = `${registry.address}/faasbox/busybox:gone-${name}`;
  const digest = await pushTag(image, gone, { variant: randomUUID() });
  const created = await createFunction(ada, [name, '--image', gone, ...args]);
  await deleteManifest(gone, digest);
  return created;
}

cli('a function the platform cannot run exits 125 with the reason; creating one on an absent image says why and exits 1', async () => {
  const absent = await faasbox(ada, ['fn', 'create', 'nowhere', '--image', `${registry.address}/faasbox/absent:1`]);
  assert.is(absent.status, 1, show(absent));
  assert.match(absent.stderr, /absent:1 is not in its registry/);
  await ghostFunction('ghost');
  const run = await faasbox(ada, ['fn', 'invoke', 'ghost']);
  assert.is(run.status, 125, show(run));
  assert.match(run.stderr, new RegExp(`^faasbox: the function could not run: .*gone-ghost.* \\(execution ${UUID}\\)\\n$`));
});

cli('fn deploy creates, then makes versions; fn versions lists them; fn rollback and fn update --if-version', async () => {
  const first = await faasbox(ada, ['fn', 'deploy', 'versioned', '--image', image, '--', 'cat']);
  assertOk(first);
  assert.match(first.stdout, new RegExp(`^created function versioned: ${UUID}\n$`));
  const second = await faasbox(ada, ['fn', 'deploy', 'versioned', '--image', image, '--env', 'MODE=two', '--', 'sh', '-c', 'echo $MODE']);
  assertOk(second);
  assert.is(second.stdout, 'function versioned is at version 2\n');
  const ran = await faasbox(ada, ['fn', 'invoke', 'versioned']);
  assert.is(ran.stdout, 'two\n', show(ran));

  const rolled = await faasbox(ada, ['fn', 'rollback', 'versioned', '1']);
  assertOk(rolled);
  assert.is(rolled.stdout, 'function versioned is at version 3, a copy of version 1\n');
  assert.is((await faasbox(ada, ['fn', 'invoke', 'versioned'], { input: 'back to cat' })).stdout, 'back to cat');
  const listed = await faasbox(ada, ['fn', 'versions', 'versioned']);
  assertOk(listed);
  assert.match(listed.stdout, /^VERSION +IMAGE +DIGEST +TIMEOUT +MEMORY +MADE +FROM$/m);
  assert.match(listed.stdout, /^3 \* +\S+ +sha256:[0-9a-f]{12} .*rollback to 1$/m);
  assert.equal(JSON.parse((await faasbox(ada, ['fn', 'versions', 'versioned', '--json'])).stdout).versions.map((v: { version: number }) => v.version), [1, 2, 3]);

  const stale = await faasbox(ada, ['fn', 'update', 'versioned', '--timeout', '5000', '--if-version', '2']);
  assert.is(stale.status, 1, show(stale));
  assert.match(stale.stderr, /current version is 3, not 2/);
  const fresh = await faasbox(ada, ['fn', 'update', 'versioned', '--timeout', '5000', '--if-version', '3']);
  assert.is(fresh.stdout, 'function versioned is at version 4\n', show(fresh));
  const nothing = await faasbox(ada, ['fn', 'update', 'versioned']);
  assert.is(nothing.status, 2, show(nothing));
});

cli('fn create --retry-attempts; dlq ls lists an async run the platform failed for good, dlq redrive runs it again, dlq rm takes one off', async () => {
  const ghost = await ghostFunction('ghost-retried', ['--retry-attempts', '2', '--retry-backoff', '100']);
  assert.equal(ghost.retry, { maxAttempts: 2, backoff: { initialMs: 100, maxMs: 60_000 }, maxAgeSeconds: 21_600, onFunctionError: false });
  const shown = await faasbox(ada, ['fn', 'get', 'ghost-retried']);
  assert.match(shown.stdout, /^async retries +2 attempts, backoff 100 ms doubling to 60000 ms, max age 21600 s, platform failures only$/m);

  // One after the other: this server runs one execution per user at a time.
  const ids: string[] = [];
  let listed: { executionId: string; attempts: number; reason: string }[] = [];
  for (const count of [1, 2]) {
    const queued = await faasbox(ada, ['fn', 'invoke', 'ghost-retried', '--async'], { input: 'lost' });
    assertOk(queued);
    ids.push(queued.stdout.trim());
    for (let i = 0; i < 100 && listed.length < count; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      listed = JSON.parse((await faasbox(ada, ['dlq', 'ls', '--json'])).stdout).deadLetters;
    }
  }
  assert.equal(listed.map((entry) => entry.executionId).sort(), [...ids].sort());
  assert.ok(listed.every((entry) => entry.attempts === 2 && /gone-ghost-retried.*\(after 2 attempts\)$/.test(entry.reason)), JSON.stringify(listed));
  const table = await faasbox(ada, ['dlq', 'ls']);
  assert.match(table.stdout, /^EXECUTION +FUNCTION +STATUS +ATTEMPTS +DEAD-LETTERED +REASON$/m);

  const redriven = await faasbox(ada, ['dlq', 'redrive', ids[0]!]);
  assertOk(redriven);
  assert.match(redriven.stdout, new RegExp(`^redriven ${ids[0]} as ${UUID}\n$`));
  // Its run (which fails again) ends before the next test, which this user's one slot needs.
  const rerun = await faasbox(ada, ['exec', 'get', redriven.stdout.trim().split(' ').at(-1)!, '--wait']);
  assert.match(rerun.stdout, /^status +failed$/m, show(rerun));
  const removed = await faasbox(ada, ['dlq', 'rm', ids[1]!]);
  assertOk(removed);
  const again = await faasbox(ada, ['dlq', 'rm', ids[1]!]);
  assert.is(again.status, 1, show(again));
  assert.match(again.stderr, /not on the dead-letter list/);
  const usage = await faasbox(ada, ['dlq', 'redrive']);
  assert.is(usage.status, 2, show(usage));
  assert.match(usage.stderr, /name one execution, or pass --all/);
});

cli('secret set takes the value from stdin, never an argument; fn create --secret gives it to the function; secret rm of one in use is refused', async () => {
  const value = 'cli-secret-value-7f3a';
  const set = await faasbox(ada, ['secret', 'set', 'cli-db'], { input: `${value}\n` });
  assertOk(set);
  assert.is(set.stdout, 'created secret cli-db\n');
  assert.is((await faasbox(ada, ['secret', 'set', 'cli-db'], { input: `${value}\n` })).stdout, 'changed secret cli-db\n');
  const empty = await faasbox(ada, ['secret', 'set', 'cli-empty'], { input: '' });
  assert.is(empty.status, 2, show(empty));
  const listed = await faasbox(ada, ['secret', 'ls']);
  assert.match(listed.stdout, /^NAME +CREATED +UPDATED$/m);
  assert.match(listed.stdout, /^cli-db +\S+ +\S+$/m);

  // The function prints what it got, here only: a test's own function may (the record shows its stdout).
  await createFunction(ada, ['uses-secret', '--image', image, '--secret', 'DB=cli-db', '--', 'sh', '-c', 'printf %s "$DB"']);
  assert.match((await faasbox(ada, ['fn', 'get', 'uses-secret'])).stdout, /^secrets +DB=cli-db$/m);
  const run = await faasbox(ada, ['fn', 'invoke', 'uses-secret']);
  assertOk(run);
  assert.is(run.stdout, value);
  for (const shown of [listed, await faasbox(ada, ['secret', 'ls', '--json']), await faasbox(ada, ['fn', 'get', 'uses-secret', '--json'])]) {
    assert.not.ok(shown.stdout.includes(value), show(shown));
  }
  const inUse = await faasbox(ada, ['secret', 'rm', 'cli-db']);
  assert.is(inUse.status, 1, show(inUse));
  assert.match(inUse.stderr, /taken by uses-secret/);
  assertOk(await faasbox(ada, ['fn', 'rm', 'uses-secret']));
  assertOk(await faasbox(ada, ['secret', 'rm', 'cli-db']));
});

cli('fn invoke --async prints the execution id; exec get shows the run, exec ls lists it', async () => {
  const queued = await faasbox(ada, ['fn', 'invoke', 'shout', '--async'], { input: 'later' });
  assertOk(queued);
  assert.match(queued.stdout, new RegExp(`^${UUID}\\n$`));
  const id = queued.stdout.trim();

  const waited = await faasbox(ada, ['exec', 'get', id, '--wait']);
  assertOk(waited);
  assert.match(waited.stdout, new RegExp(`^execution +${id}$`, 'm'));
  assert.match(waited.stdout, /^status +succeeded$/m);
  assert.match(waited.stdout, /^exit code +0$/m);
  assert.match(waited.stdout, /^duration +\d+ ms$/m);
  assert.ok(waited.stdout.endsWith('--- stdout\nLATER\n'), waited.stdout);

  const json = await faasbox(ada, ['exec', 'get', id, '--json']);
  assertOk(json);
  const execution = JSON.parse(json.stdout);
  assert.equal([execution.executionId, execution.status, execution.exitCode, execution.stdout], [id, 'succeeded', 0, 'LATER']);

  const list = await faasbox(ada, ['exec', 'ls', 'shout']);
  assertOk(list);
  const [header, newest, ...older] = list.stdout.trimEnd().split('\n');
  assert.match(header!, /^EXECUTION\s+STATUS\s+EXIT\s+DURATION\s+QUEUED$/);
  assert.match(newest!, new RegExp(`^${id}\\s+succeeded\\s+0\\s+\\d+ms\\s+\\S+Z$`));
  assert.is(older.length, 3, 'the three runs of the invoke test');

  const listed = await faasbox(ada, ['exec', 'ls', shout.id, '--json', '--limit', '2']);
  assertOk(listed);
  const { executions } = JSON.parse(listed.stdout);
  assert.is(executions.length, 2);
  assert.is(executions[0].executionId, id);

  const asJson = await faasbox(ada, ['fn', 'invoke', 'shout', '--async', '--json']);
  assertOk(asJson);
  assert.equal(Object.keys(JSON.parse(asJson.stdout)), ['executionId', 'status']);
  assert.is(JSON.parse(asJson.stdout).status, 'queued');
  assertOk(await faasbox(ada, ['exec', 'get', JSON.parse(asJson.stdout).executionId, '--wait']));

  const missing = await faasbox(ada, ['exec', 'get', randomUUID()]);
  assert.is(missing.status, 1);
  assert.match(missing.stderr, new RegExp(`^faasbox: no such execution: ${UUID}\\n$`));
});

cli('a name two functions share is refused, with both ids', async () => {
  const first = await createFunction(ada, ['twin', '--image', image]);
  const second = await createFunction(ada, ['twin', '--image', image]);
  const run = await faasbox(ada, ['fn', 'get', 'twin']);
  assert.is(run.status, 1);
  assert.is(run.stderr, `faasbox: 2 functions are named twin; give one of their ids: ${second.id}, ${first.id}\n`);
  assertOk(await faasbox(ada, ['fn', 'rm', first.id]));
  const now = await faasbox(ada, ['fn', 'get', 'twin', '--json']);
  assertOk(now);
  assert.is(JSON.parse(now.stdout).id, second.id);
});

cli('fn rm, then fn get: no such function, exit 1', async () => {
  const greet = JSON.parse((await faasbox(ada, ['fn', 'get', 'greet', '--json'])).stdout);
  const removed = await faasbox(ada, ['fn', 'rm', 'greet']);
  assertOk(removed);
  assert.is(removed.stdout, `deleted function greet (${greet.id})\n`);

  const byId = await faasbox(ada, ['fn', 'get', greet.id]);
  assert.is(byId.status, 1);
  assert.is(byId.stderr, `faasbox: no such function: ${greet.id}\n`);
  const byName = await faasbox(ada, ['fn', 'get', 'greet']);
  assert.is(byName.status, 1);
  assert.is(byName.stderr, 'faasbox: no function named greet: see faasbox fn ls\n');

  const json = await faasbox(ada, ['fn', 'rm', greet.id, '--json']);
  assert.is(json.status, 1);
  assert.is(json.stdout, '');
  const problem = JSON.parse(json.stderr);
  assert.equal([problem.type, problem.status, problem.detail], ['urn:faasbox:problem:function-not-found', 404, 'no such function']);
});

cli('the concurrency limit: limit reached, N running, retry after S s', async () => {
  const cy = newMachine('cy');
  await signUp(cy);
  // It holds the user's one slot until it times out, 10 s after it starts (or the server stops).
  await createFunction(cy, ['sleeper', '--image', image, '--timeout', '10000', '--', 'sleep', '30']);
  assertOk(await faasbox(cy, ['fn', 'invoke', 'sleeper', '--async']));

  const run = await faasbox(cy, ['fn', 'invoke', 'sleeper']);
  assert.is(run.status, 1, show(run));
  assert.is(run.stderr, 'faasbox: limit reached: 1 executions are already running; retry after 1 s\n');
  const json = await faasbox(cy, ['fn', 'invoke', 'sleeper', '--json']);
  assert.is(json.status, 1);
  const problem = JSON.parse(json.stderr);
  assert.equal([problem.type, problem.status, problem.retryAfterSeconds], ['urn:faasbox:problem:limit-reached', 429, 1]);
});

cli('401: a token the server refuses, or an expired login, says to log in again', async () => {
  const file = credentialsFile(ada);
  const good = readFileSync(file, 'utf8');
  const rewrite = (change: (login: Record<string, string>) => void) => {
    const stored = JSON.parse(good);
    change(stored.logins[server.url]);
    writeFileSync(file, JSON.stringify(stored));
  };
  try {
    rewrite((login) => {
      login.token = 'not.a.token';
    });
    const refused = await faasbox(ada, ['fn', 'ls']);
    assert.is(refused.status, 1);
    assert.is(refused.stderr, `faasbox: not logged in or the token expired: run faasbox login --email ${ada.email}\n`);

    const expiresAt = '2020-01-01T00:00:00.000Z';
    rewrite((login) => {
      login.token = expiredToken(ada.email);
      login.expiresAt = expiresAt;
    });
    const expired = await faasbox(ada, ['fn', 'invoke', 'shout'], { input: 'x' });
    assert.is(expired.status, 1);
    assert.is(expired.stderr, `faasbox: your login to ${server.url} expired at ${expiresAt}: run faasbox login --email ${ada.email}\n`);

    writeFileSync(file, '{"logins": ');
    const damaged = await faasbox(ada, ['fn', 'ls']);
    assert.is(damaged.status, 1);
    assert.is(damaged.stderr, `faasbox: ${file} is damaged: log in again (faasbox login --email …) or remove it (faasbox logout)\n`);
    // Logging in mends it.
    assertOk(await faasbox(ada, ['login', '--email', ada.email], { input: `${PASSWORD}\n` }));
    assertOk(await faasbox(ada, ['fn', 'ls']));
  } finally {
    writeFileSync(file, good);
  }
});

cli('--url beats FAASBOX_URL, which beats the server of the last login', async () => {
  // No FAASBOX_URL: the server of the last login.
  assertOk(await faasbox(ada, ['fn', 'get', 'shout'], { env: { FAASBOX_URL: '' } }));
  const elsewhere = await faasbox(ada, ['fn', 'ls'], { env: { FAASBOX_URL: closedUrl } });
  assert.is(elsewhere.stderr, `faasbox: not logged in to ${closedUrl}: run faasbox login --email <your email>\n`, 'the token is not sent to another server');
  assertOk(await faasbox(ada, ['fn', 'get', 'shout', '--url', `${server.url}/`], { env: { FAASBOX_URL: closedUrl } }));
});

cli('logout forgets the token on this machine', async () => {
  const run = await faasbox(ada, ['logout']);
  assertOk(run);
  assert.is(run.stdout, `logged out of ${server.url} (${ada.email})\n`);
  assert.not.ok(existsSync(credentialsFile(ada)));
  const after = await faasbox(ada, ['fn', 'ls']);
  assert.is(after.status, 1);
  assert.match(after.stderr, /^faasbox: not logged in to /);
});

cli('the platform stops cleanly', async () => {
  assert.is(await server.stop(), 0);
  await registry.stop();
});

cli.run();
