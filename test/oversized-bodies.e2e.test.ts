/**
 * Issue 14, item 1: a body over FAASBOX_BODY_LIMIT_BYTES gets its 413 problem+json, and the
 * client reads it, instead of a reset connection. The real server (each runtime's entry) and
 * three real clients: Node's fetch (undici), curl, a raw socket; Content-Length and chunked
 * bodies, with and without `Expect: 100-continue`; 50 one after another and 20 at once, for a
 * 5 MB JSON body to POST /v1/functions and a 3 MB stdin to POST /v1/functions/:id/executions.
 * Then, on Node and Deno, the bounds of the lingering close (FAASBOX_LINGER_BYTES, FAASBOX_LINGER_MS),
 * and, on Node, `faasbox fn invoke` with an oversized stdin. Prints, per runtime, how many of each batch
 * read their 413. `OVERSIZED_ONLY=node,deno` runs those runtimes only.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runFaasboxCli } from './support/faasbox-cli.ts';
import { call, uniqueEmail } from './support/http-client.ts';
import { type Runtime, type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { type Outcome, type Upload, sendRegardless, viaCurl, viaFetch, viaSocket } from './support/upload-clients.ts';

const SECRET = 'oversized-e2e-secret-of-at-least-32-bytes';
const PASSWORD = 'correct horse battery';
const SEQUENTIAL = 50;
const AT_ONCE = 20;
const MB = 1024 * 1024;
const RUNTIMES = (['node', 'bun', 'deno'] as const).filter((runtime) => (process.env.OVERSIZED_ONLY ?? runtime).split(',').includes(runtime));
const TIGHT_MS = 500;
/** How a client sees a connection cut off while it still sends. */
const RESET = ['ECONNRESET', 'EPIPE'];

/**
 * Whether the server says `100 Continue` to a declared length over the limit. Node does not: its
 * entry answers the 413 from the headers. Bun and Deno send the 100 before the app sees the
 * request (README, "Runtimes"): the client then sends the body, which they read and discard.
 */
const CONTINUES_OVER_THE_LIMIT: Record<Runtime, boolean> = { node: false, bun: true, deno: true };

type Client = { name: string; send: (upload: Upload) => Promise<Outcome>; framing: Upload['framing']; expectContinue: boolean };
const CLIENTS: Client[] = [
  { name: 'fetch', send: viaFetch, framing: 'length', expectContinue: false },
  { name: 'fetch', send: viaFetch, framing: 'chunked', expectContinue: false },
  ...(['length', 'chunked'] as const).flatMap((framing) =>
    [false, true].flatMap((expectContinue) => [
      { name: 'curl', send: viaCurl, framing, expectContinue },
      { name: 'socket', send: viaSocket, framing, expectContinue },
    ]),
  ),
];
const label = (client: Client) => `${client.name} ${client.framing}${client.expectContinue ? ' +expect' : ''}`;

type Target = { name: string; path: (functionId: string) => string; contentType: string; body: Uint8Array; file: string };
const files = tempDir('faasbox-oversized-');
function target(name: string, path: Target['path'], contentType: string, body: Uint8Array): Target {
  const file = join(files, `${name.replace(/\W+/g, '-')}.body`);
  writeFileSync(file, body);
  return { name, path, contentType, body, file };
}
const TARGETS: Target[] = [
  target(
    'POST /v1/functions (5 MB JSON)',
    () => '/v1/functions',
    'application/json',
    new TextEncoder().encode(JSON.stringify({ name: 'huge', image: 'busybox:1.36', env: { PADDING: 'x'.repeat(5 * MB) } })),
  ),
  target('POST /v1/functions/:id/executions (3 MB stdin)', (id) => `/v1/functions/${id}/executions`, 'application/octet-stream', new Uint8Array(3 * MB).fill(0x61)),
];

/** Per runtime: for each target and client, how many of the sequential and the concurrent batch read their 413. */
const tally: Record<string, string[]> = {};

/** Why an outcome is not a 413 problem+json that the client read whole; null when it is. */
function flaw(outcome: Outcome): string | null {
  if ('error' in outcome) return outcome.error;
  if (outcome.status !== 413) return `status ${outcome.status}: ${outcome.body.slice(0, 200)}`;
  if (outcome.contentType !== 'application/problem+json') return `content-type ${outcome.contentType}`;
  try {
    const problem = JSON.parse(outcome.body) as { type?: unknown; status?: unknown; detail?: unknown };
    if (problem.type !== 'urn:faasbox:problem:body-too-large' || problem.status !== 413) return `another problem: ${outcome.body}`;
    if (typeof problem.detail !== 'string' || /\bat .*\.(ts|js):\d+|node_modules/.test(outcome.body)) return `a bad detail: ${outcome.body}`;
  } catch {
    return `a body that is not JSON: ${outcome.body.slice(0, 200)}`;
  }
  return null;
}

/**
 * The functions here are never run, and no registry is asked about them: a reference that names
 * its digest is pinned to it as it is.
 */
const NEVER_RUN_IMAGE = `busybox:1.36@sha256:${'0'.repeat(64)}`;

async function signUp(url: string): Promise<{ token: string; functionId: string }> {
  const email = uniqueEmail('oversized');
  assert.is((await call(url, 'POST', '/v1/users', { json: { email, password: PASSWORD } })).status, 201);
  const token = (await call(url, 'POST', '/v1/tokens', { json: { email, password: PASSWORD } })).body.token as string;
  // Never run: every body sent to it is over the limit, refused before the function is looked up.
  const created = await call(url, 'POST', '/v1/functions', { token, json: { name: 'cat', image: NEVER_RUN_IMAGE, command: ['cat'] } });
  assert.is(created.status, 201, JSON.stringify(created.body));
  return { token, functionId: created.body.id as string };
}

for (const runtime of RUNTIMES) {
  const test = suite(`oversized bodies on ${runtime}`);
  let server: ServerProcess;
  let account: { token: string; functionId: string };

  // Started in a test, not a hook: uvu would swallow a failed start.
  test(`${runtime}: the platform starts; a user, a token and a function`, async () => {
    server = await startServer({ runtime, env: { FAASBOX_JWT_SECRET: SECRET } });
    account = await signUp(server.url);
  });

  for (const where of TARGETS) {
    for (const client of CLIENTS) {
      test(`${runtime}: ${where.name} by ${label(client)}: ${SEQUENTIAL} one after another and ${AT_ONCE} at once read their 413 problem+json`, async () => {
        const upload: Upload = {
          url: `${server.url}${where.path(account.functionId)}`,
          headers: { authorization: `Bearer ${account.token}`, 'content-type': where.contentType },
          body: where.body,
          file: where.file,
          framing: client.framing,
          expectContinue: client.expectContinue,
        };
        const sequential: Outcome[] = [];
        for (let i = 0; i < SEQUENTIAL; i++) sequential.push(await client.send(upload));
        const atOnce = await Promise.all(Array.from({ length: AT_ONCE }, () => client.send(upload)));
        const failures = (outcomes: Outcome[]) => outcomes.map(flaw).filter((why): why is string => why !== null);
        const [late, crowded] = [failures(sequential), failures(atOnce)];
        (tally[runtime] ??= []).push(
          `${where.name.split(' (')[0]!.padEnd(34)} ${label(client).padEnd(22)} ${String(SEQUENTIAL - late.length).padStart(2)}/${SEQUENTIAL}  ${String(AT_ONCE - crowded.length).padStart(2)}/${AT_ONCE}`,
        );
        const sample = [...new Set([...late, ...crowded])].slice(0, 3).join('\n  ');
        assert.ok(late.length === 0 && crowded.length === 0, `${late.length}/${SEQUENTIAL} and ${crowded.length}/${AT_ONCE} did not read a 413:\n  ${sample}`);

        // Only the raw socket sees a 100 Continue; with a declared length the server knows enough to refuse.
        if (client.name !== 'socket' || !client.expectContinue) return;
        const continued = [...sequential, ...atOnce].filter((outcome) => 'continued' in outcome && outcome.continued).length;
        const expected = client.framing === 'chunked' || CONTINUES_OVER_THE_LIMIT[runtime];
        if (expected && client.framing === 'length') {
          console.log(`\n  NOTE ${runtime}: sends 100 Continue to a declared ${where.body.length} bytes (over the limit); the client sends the body, ${runtime} reads and discards it, and the 413 is read all the same`);
        }
        assert.is(continued, expected ? SEQUENTIAL + AT_ONCE : 0, `${continued} of ${SEQUENTIAL + AT_ONCE} got a 100 Continue first`);
      });
    }
  }

  if (runtime === 'node') {
    test('node: faasbox fn invoke with a 3 MB and an 8 MB stdin says "too large" and exits 1, never a network error', async () => {
      const home = tempDir('faasbox-oversized-home-');
      const env = { HOME: home, XDG_CONFIG_HOME: home, FAASBOX_URL: server.url };
      const email = uniqueEmail('oversized-cli');
      for (const command of ['register', 'login']) {
        const run = await runFaasboxCli([command, '--email', email], { env, input: `${PASSWORD}\n` });
        assert.is(run.status, 0, `${command}: ${run.stderr}`);
      }
      assert.is((await runFaasboxCli(['fn', 'create', 'cat', '--image', NEVER_RUN_IMAGE, '--', 'cat'], { env })).status, 0);
      // 8 MB: on the code before the fix about half of these failed with "cannot reach … (EPIPE)".
      const stdins = [3, 8].flatMap((size) => Array.from({ length: 6 }, () => new Uint8Array(size * MB).fill(0x61)));
      const runs = await Promise.all(stdins.map((input) => runFaasboxCli(['fn', 'invoke', 'cat'], { env, input })));
      for (const run of runs) {
        assert.is(run.stderr, 'faasbox: too large: the body exceeds 1048576 bytes\n', `status ${run.status}: ${run.stderr}`);
        assert.is(run.status, 1);
        assert.is(run.stdout, '');
      }
    });
  }

  test(`${runtime}: the server stops; the counts`, async () => {
    const code = await server.stop();
    console.log(`\n  ${runtime}: 413 problem+json read, of ${SEQUENTIAL} sequential and ${AT_ONCE} at once\n  ${(tally[runtime] ?? []).join('\n  ')}`);
    assert.is(code, 0, server.output.slice(-10).join('\n'));
  });

  test.run();
}

/**
 * The lingering close's bounds, on the runtimes that honour them: Node (src/entry/lingering-close.ts)
 * and Deno (src/entry/discard-unread-body.ts). Bun reads the rest of a body by its own rules.
 */
for (const runtime of RUNTIMES.filter((name) => name !== 'bun')) {
  const bounds = suite(`oversized bodies on ${runtime}: how much is drained is a setting (FAASBOX_LINGER_BYTES, FAASBOX_LINGER_MS)`);
  let roomy: ServerProcess;
  let tight: ServerProcess;
  const overTheLimit = (server: ServerProcess) => `${server.url}/v1/functions`;

  bounds(`${runtime}: a server with the default bounds and one with 64 KiB and ${TIGHT_MS} ms start`, async () => {
    [roomy, tight] = await Promise.all([
      startServer({ runtime, env: { FAASBOX_JWT_SECRET: SECRET } }),
      startServer({ runtime, env: { FAASBOX_JWT_SECRET: SECRET, FAASBOX_LINGER_BYTES: String(64 * 1024), FAASBOX_LINGER_MS: String(TIGHT_MS) } }),
    ]);
  });

  bounds(`${runtime}: a client that sends all of its body regardless reads the 413 and a clean close (5 MB); past FAASBOX_LINGER_BYTES it is reset (200 MB)`, async () => {
    const roomyEnd = await sendRegardless(overTheLimit(roomy), { declared: 5 * MB, pace: 'whole' });
    assert.is(roomyEnd.answer?.status, 413, JSON.stringify(roomyEnd));
    assert.is(roomyEnd.end, 'clean', JSON.stringify(roomyEnd));

    const tightEnd = await sendRegardless(overTheLimit(tight), { declared: 200 * MB, pace: 'whole' });
    if (runtime === 'node') {
      assert.ok(RESET.includes(tightEnd.end), `expected a reset past 64 KiB: ${JSON.stringify(tightEnd)}`);
      return;
    }
    // Deno, once the body is cancelled, now closes and now reads a Content-Length body to its end
    // by itself: the byte bound does not hold there (README, Runtimes). It does end, either way.
    console.log(`\n  NOTE deno: 200 MB sent regardless of a 64 KiB FAASBOX_LINGER_BYTES ended ${tightEnd.end} (a reset, or all of it read)`);
    assert.ok(tightEnd.end === 'clean' || RESET.includes(tightEnd.end), JSON.stringify(tightEnd));
  });

  bounds(`${runtime}: a client that trickles its body is cut off FAASBOX_LINGER_MS after the 413; the default waits longer`, async () => {
    const [tightEnd, roomyEnd] = await Promise.all([
      sendRegardless(overTheLimit(tight), { declared: 5 * MB, pace: 'trickle', holdMs: 10_000 }),
      sendRegardless(overTheLimit(roomy), { declared: 5 * MB, pace: 'trickle', holdMs: 1_500 }),
    ]);
    assert.is(tightEnd.answer?.status, 413, JSON.stringify(tightEnd));
    // Noticed at the first write after the cut (100 ms at most); generous upwards for a loaded machine.
    assert.ok(RESET.includes(tightEnd.end), JSON.stringify(tightEnd));
    assert.ok(tightEnd.endedAfterAnswerMs! >= TIGHT_MS - 100 && tightEnd.endedAfterAnswerMs! < 5_000, JSON.stringify(tightEnd));
    assert.is(roomyEnd.answer?.status, 413, JSON.stringify(roomyEnd));
    assert.is(roomyEnd.end, 'held', `the default (5 s) cut it off before 1.5 s: ${JSON.stringify(roomyEnd)}`);
  });

  bounds(`${runtime}: both servers stop`, async () => {
    const codes = await Promise.all([roomy.stop(), tight.stop()]);
    assert.equal(codes, [0, 0]);
  });

  bounds.run();
}
