/**
 * One platform, three runtimes: the same flow through `npm start` (Node), `npm run start:bun` and
 * `npm run start:deno` (the command lines come from package.json). In one process: the embedded
 * SQLite store on the runtime's own driver (EventStoreDB when FAASBOX_EVENTSTORE_URL is set), the
 * in-process bus, dockerode. Apart, for Bun and Deno: an api and a worker over a real
 * nats-server, which exercises the NATS adapter under that runtime. Prints the timings at the end.
 */
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from './support/api.ts';
import { type Reply, call, uniqueEmail } from './support/http-client.ts';
import { type NatsServer, startNatsServer } from './support/nats-server.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type Runtime, type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';

const RUNTIMES: Runtime[] = ['node', 'bun', 'deno'];
const PASSWORD = 'correct horse battery';
/** Longer than Bun's default idle timeout (10 s), which would cut a waiting request. */
const SLOW_SECONDS = 11;

let registry: Registry;
let nats: NatsServer;
let images: TestImages;
const timings: Record<string, Record<string, number>> = {};

const since = (start: number) => Math.round(performance.now() - start);
const record = (runtime: string, name: string, ms: number) => {
  (timings[runtime] ??= {})[name] = ms;
};

async function signUp(url: string) {
  const email = uniqueEmail('runtimes');
  const { registered, token } = await api.signUp(url, { email, password: PASSWORD });
  assert.is(registered.email, email);
  const me = await call(url, 'GET', '/v1/users/me', { token });
  assert.is(me.body.id, registered.id);
  return { token, email };
}

/**
 * The runtime's own pieces under issue 19 and 20: a secret sealed and opened with its WebCrypto
 * reaches the function, and the console signs in (its cookie) and renders a page (Hono's JSX,
 * htmx read from the installed package) under its CSP.
 */
async function secretsAndConsole(url: string, user: { token: string; email: string }) {
  assert.is((await call(url, 'PUT', '/v1/secrets/runtime-secret', { token: user.token, json: { value: 'opened here' } })).status, 201);
  const fn = await api.createFunction(url, user.token, { name: 'secretive', image: images.busybox, command: ['sh', '-c', 'printf %s "$S"'], secrets: { S: 'runtime-secret' } });
  assertSucceeded(await execute(url, user.token, fn.id, ''), 'opened here');
  const signIn = await fetch(`${url}/console/sign-in`, {
    method: 'POST',
    body: new URLSearchParams({ email: user.email, password: PASSWORD }),
    headers: { origin: url },
    redirect: 'manual',
  });
  assert.is(signIn.status, 303);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
  const page = await fetch(`${url}/console/functions`, { headers: { cookie } });
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.match(await page.text(), /secretive/);
  assert.is((await fetch(`${url}/console/assets/htmx.min.js`)).status, 200);
}

const createFunction = async (url: string, token: string, name: string, command: string[]) =>
  (await api.createFunction(url, token, { name, image: images.busybox, command })).id;

const execute = (url: string, token: string, functionId: string, stdin: string, query = '') =>
  call(url, 'POST', `/v1/functions/${functionId}/executions${query}`, { token, body: stdin });

function assertSucceeded(reply: Reply, stdout: string) {
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  assert.is(reply.body.status, 'succeeded', JSON.stringify(reply.body));
  assert.is(reply.body.exitCode, 0);
  assert.is(reply.body.stdout, stdout);
  assert.is(reply.body.stderr, '');
}

async function started(runtime: Runtime, options: Parameters<typeof startServer>[0], timing: string) {
  const start = performance.now();
  const server = await startServer({ ...options, runtime });
  record(runtime, timing, since(start));
  const line = server.output.find((text) => /"message":"(faasbox listening|worker started)"/.test(text));
  assert.ok(line?.includes(`"runtime":"${runtime}"`), `${runtime} ran another entry: ${line}`);
  return server;
}

async function stopped(runtime: Runtime, server: ServerProcess, timing: string) {
  const start = performance.now();
  const code = await server.stop();
  record(runtime, timing, since(start));
  assert.is(code, 0, `${runtime} exited ${code}:\n${server.output.slice(-20).join('\n')}`);
}

const docker = new Docker({ socketPath: '/var/run/docker.sock' });

/** Until a container of this worker runs: the execution has started, not merely been queued. */
/**
 * Until an execution of this command runs in its own container: a pre-started one
 * (`faasbox.prestarted`) is no execution yet, and the last execution's container may not have
 * exited yet.
 */
const SHORT_SCRIPT = 'sleep 2; cat';

async function untilRunning(workerId: string, script: string) {
  for (let i = 0; i < 200; i++) {
    const running = await docker.listContainers({ filters: { label: [`faasbox.worker=${workerId}`, 'faasbox.execution'], status: ['running'] } });
    if (running.some((container) => container.Command.includes(script))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.unreachable(`no container of ${workerId} started`);
}

const runtimes = suite('runtimes: node, bun and deno');

// Started in a test, not a hook: uvu would swallow a failed start.
runtimes('a loopback registry holds the test images; a nats-server runs', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
  nats = await startNatsServer();
});

for (const runtime of RUNTIMES) {
  runtimes(`${runtime}: one process (in-process bus): register, token, create, execute in Docker, history; SIGTERM answers the running execution and exits 0`, async () => {
    const workerId = `runtimes-${runtime}-${process.pid}`;
    const server = await started(runtime, { env: { FAASBOX_WORKER_ID: workerId, FAASBOX_EXECUTION_GRACE_MS: '5000' } }, 'start (ms)');
    try {
      const { url } = server;
      const user = await signUp(url);
      const { token } = user;
      const upper = await createFunction(url, token, 'upper', ['tr', 'a-z', 'A-Z']);
      const slow = await createFunction(url, token, 'slow', ['sh', '-c', `sleep ${SLOW_SECONDS}; cat`]);
      const waiting = execute(url, token, slow, 'still here');
      // Awaited below; until then a failure must fail this test, not end the whole run unhandled.
      waiting.catch(() => {});

      let start = performance.now();
      assertSucceeded(await execute(url, token, upper, `hello from ${runtime}\n`), `HELLO FROM ${runtime.toUpperCase()}\n`);
      record(runtime, 'first execution (ms)', since(start));
      const warm: number[] = [];
      for (let i = 0; i < 5; i++) {
        start = performance.now();
        assertSucceeded(await execute(url, token, upper, `run ${i}`), `RUN ${i}`);
        warm.push(since(start));
      }
      record(runtime, 'warm execution, median (ms)', warm.sort((a, b) => a - b)[2]!);
      await secretsAndConsole(url, user);

      // 256 KiB through the container's stdin and back: dockerode's hijacked stream on this runtime.
      const big = 'abcdefghijklmnop'.repeat(16 * 1024);
      assertSucceeded(await execute(url, token, upper, big), big.toUpperCase());
      assert.is((await execute(url, token, upper, 'x'.repeat(1024 * 1024 + 1))).status, 413);

      const queued = await execute(url, token, upper, 'later', '?wait=false');
      assert.is(queued.status, 202, JSON.stringify(queued.body));
      let state: Reply | undefined;
      for (let i = 0; i < 200 && state?.body.status !== 'succeeded'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        state = await call(url, 'GET', `/v1/executions/${queued.body.executionId}`, { token });
      }
      assert.is(state?.body.stdout, 'LATER');

      const history = await call(url, 'GET', `/v1/functions/${upper}/executions`, { token });
      assert.is(history.status, 200);
      assert.is(history.body.executions.length, 8);
      assert.is(history.body.executions[0].executionId, queued.body.executionId, 'newest first');
      assert.ok(history.body.executions.every((execution: { status: string }) => execution.status === 'succeeded'));

      const slowReply = await waiting;
      assertSucceeded(slowReply, 'still here');
      assert.ok(slowReply.body.durationMs >= SLOW_SECONDS * 1000 - 500, `ran ${slowReply.body.durationMs} ms`);

      // Shutdown: the api refuses new requests, answers the waiting one, the worker drains.
      const short = await createFunction(url, token, 'short', ['sh', '-c', SHORT_SCRIPT]);
      const answered = execute(url, token, short, 'answered while stopping');
      answered.catch(() => {});
      await untilRunning(workerId, SHORT_SCRIPT);
      await stopped(runtime, server, 'SIGTERM to exit, one execution running (ms)');
      assertSucceeded(await answered, 'answered while stopping');
    } finally {
      if (server.child.exitCode === null) await server.kill();
    }
  });
}

for (const runtime of RUNTIMES.filter((name) => name !== 'node')) {
  runtimes(`${runtime}: an api and a worker apart over nats-server execute a function; both exit 0`, async () => {
    const dataDir = tempDir();
    const env = { FAASBOX_NATS_URL: nats.url, FAASBOX_JWT_SECRET: 'runtimes-e2e-secret-of-at-least-32-bytes' };
    const processes = await Promise.all([
      started(runtime, { role: 'api', dataDir, env }, 'api start over NATS (ms)'),
      started(runtime, { role: 'worker', dataDir, env: { ...env, FAASBOX_WORKER_ID: `runtimes-nats-${runtime}-${process.pid}` } }, 'worker start over NATS (ms)'),
    ]);
    try {
      const [api] = processes;
      const { token } = await signUp(api.url);
      const id = await createFunction(api.url, token, 'echo', ['cat']);
      const start = performance.now();
      assertSucceeded(await execute(api.url, token, id, `through nats on ${runtime}`), `through nats on ${runtime}`);
      record(runtime, 'execution over NATS (ms)', since(start));
      const history = await call(api.url, 'GET', `/v1/functions/${id}/executions`, { token });
      assert.is(history.body.executions[0]?.status, 'succeeded');
      await stopped(runtime, processes[1], 'worker SIGTERM to exit (ms)');
      await stopped(runtime, processes[0], 'api SIGTERM to exit (ms)');
    } finally {
      for (const server of processes) if (server.child.exitCode === null) await server.kill();
    }
  });
}

runtimes('nats-server and the registry stop; the timings per runtime', async () => {
  await nats.stop();
  await registry.stop();
  console.log('\n  timings per runtime (this machine; the first execution pulls the image only on node, which runs first)');
  console.table(timings);
});

runtimes.run();
