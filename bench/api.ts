/**
 * Issue 7, item 4: authenticated `GET /v1/functions` (a user with 10 functions) per second with
 * autocannon, against a bare Hono hello-world served the same way on the same runtime, in
 * alternating rounds: `api-functions-node` and `api-functions-bun`. Also `api-idle-rss`: the
 * RSS of a freshly started Faasbox (role all, on Node) before any load, against its target.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startServer, tempDir } from '../test/support/server-process.ts';
import { type BenchOptions, type Figure, compare, median, percentile } from './figure.ts';
import { loadAverage } from './load-average.ts';
import { profileEnv } from './profile-env.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export const TARGETS = { ratio: 0.5, idleRssMb: 150 } as const;

const CONNECTIONS = 10;
const FUNCTIONS = 10;
const WARMUP_SECONDS = 0.5;
/** A rate is sampled each second of a round: the figure's median and p95 are over those. */
const SAMPLE_MS = 1_000;

type Runtime = 'node' | 'bun';
type Plan = { rounds: number; seconds: number };

/** `profileDir`: the Node server runs under bench/cpu-profile.mjs (Bun's is not profiled). */
export async function benchApi(options: BenchOptions & { profileDir?: string }): Promise<Figure[]> {
  const plan: Plan = options.quick ? { rounds: 2, seconds: 2 } : { rounds: 5, seconds: 5 };
  const node = await benchRuntime('node', plan, profileEnv(options.profileDir));
  const bun = await benchRuntime('bun', plan, {});
  return [node.figure, bun.figure, idleRssFigure(node.idle, bun.idle)];
}

type IdleRss = { faasboxMb: number[]; bareMb: number[]; faasboxAfterLoadMb: number };

async function benchRuntime(runtime: Runtime, plan: Plan, env: Record<string, string>): Promise<{ figure: Figure; idle: IdleRss }> {
  const bare = await startBareHono(runtime);
  const dataDir = tempDir('faasbox-bench-api-');
  const faasbox = await startServer({ runtime, env, dataDir });
  try {
    // The server's access log (a line per request) still goes to its pipe, as in production;
    // the benchmark just stops parsing it, so the load generator keeps its core to itself.
    faasbox.child.stdout?.removeAllListeners('data').resume();
    faasbox.child.stderr?.removeAllListeners('data').resume();
    const token = await userWithFunctions(faasbox.url);
    const faasboxTarget = { url: `${faasbox.url}/v1/functions`, headers: { authorization: `Bearer ${token}` } };
    const bareTarget = { url: bare.url, headers: {} };

    await sleep(1_000);
    const idle: IdleRss = { faasboxMb: await rssSamples(faasbox.child.pid!), bareMb: await rssSamples(bare.child.pid!), faasboxAfterLoadMb: 0 };

    await load(bareTarget, WARMUP_SECONDS);
    await load(faasboxTarget, WARMUP_SECONDS);
    const measured: LoadResult[] = [];
    const baseline: LoadResult[] = [];
    for (let round = 0; round < plan.rounds; round++) {
      // Alternating which goes first, so neither always runs on the warmer machine.
      if (round % 2 === 0) {
        baseline.push(await load(bareTarget, plan.seconds));
        measured.push(await load(faasboxTarget, plan.seconds));
      } else {
        measured.push(await load(faasboxTarget, plan.seconds));
        baseline.push(await load(bareTarget, plan.seconds));
      }
    }
    idle.faasboxAfterLoadMb = rssMb(faasbox.child.pid!);
    const failures = [...measured, ...baseline].reduce((sum, result) => sum + result.failures, 0);
    if (failures > 0) throw new Error(`${failures} requests failed or answered other than 2xx`);

    const latency = (results: LoadResult[]) => {
      const all = results.flatMap((result) => result.latenciesMs);
      return { median: round(median(all)), p95: round(percentile(all, 95)) };
    };
    const figure = compare(
      `api-functions-${runtime}`,
      'requests/s',
      measured.flatMap((result) => result.perSecond),
      { name: `bare hono (${runtime})`, samples: baseline.flatMap((result) => result.perSecond) },
      {
        what: `authenticated GET /v1/functions (${FUNCTIONS} functions), role all, against GET / of a one-route Hono app`,
        targetRatio: TARGETS.ratio,
        latencyMs: { faasbox: latency(measured), bare: latency(baseline) },
        requests: { faasbox: sum(measured.map((r) => r.requests)), bare: sum(baseline.map((r) => r.requests)) },
        connections: CONNECTIONS,
        rounds: plan.rounds,
        secondsPerRound: plan.seconds,
        client: 'autocannon in the benchmark process, on the same cores as the server',
        loadAverage: loadAverage(),
      },
    );
    return { figure, idle };
  } finally {
    await faasbox.stop();
    await bare.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Registers a user, creates its functions, and returns a token for it. */
async function userWithFunctions(url: string): Promise<string> {
  const call = async (method: string, path: string, body: unknown, token?: string) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  const credentials = { email: 'bench@example.com', password: 'correct horse battery' };
  await call('POST', '/v1/users', credentials);
  const { token } = (await call('POST', '/v1/tokens', credentials)) as { token: string };
  for (let i = 0; i < FUNCTIONS; i++) {
    // Never run, only listed: a reference that names its digest is pinned without asking a registry.
    await call('POST', '/v1/functions', { name: `fn-${i}`, image: `127.0.0.1:5000/faasbox/busybox:1@sha256:${'0'.repeat(64)}`, command: ['true'] }, token);
  }
  const listed = (await call('GET', '/v1/functions', undefined, token)) as { functions: unknown[] };
  if (listed.functions.length !== FUNCTIONS) throw new Error(`GET /v1/functions listed ${listed.functions.length} functions`);
  return token;
}

type LoadResult = { perSecond: number[]; latenciesMs: number[]; requests: number; failures: number };

/** `seconds` of autocannon with CONNECTIONS connections; requests answered in each second, and every latency. */
function load(target: { url: string; headers: Record<string, string> }, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const perSecond = new Array<number>(Math.floor((seconds * 1000) / SAMPLE_MS)).fill(0);
    const latenciesMs: number[] = [];
    const instance = autocannon({ url: target.url, headers: target.headers, connections: CONNECTIONS, duration: seconds }, (error, result) => {
      if (error) return reject(error);
      resolve({ perSecond, latenciesMs, requests: result.requests.total, failures: result.errors + result.timeouts + result.non2xx });
    });
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
      const slot = Math.floor((performance.now() - started) / SAMPLE_MS);
      // Responses past the last whole second (the round's tail) count in no sample.
      if (slot < perSecond.length) perSecond[slot]! += 1;
      latenciesMs.push(responseTimeMs);
    });
  });
}

type BareServer = { url: string; child: ChildProcess; stop(): Promise<void> };

/** bench/bare-hono/<runtime>.ts in its own process, as Faasbox runs in its own. */
async function startBareHono(runtime: Runtime): Promise<BareServer> {
  const script = join(root, 'bench', 'bare-hono', `${runtime}.ts`);
  const child =
    runtime === 'node'
      ? spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(join(root, 'node_modules', '.bin', 'bun'), [script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`bare hono (${runtime}) did not start: ${output}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /"url":"([^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`bare hono (${runtime}) exited: ${output}`));
    });
  });
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function idleRssFigure(node: IdleRss, bun: IdleRss): Figure {
  return compare('api-idle-rss', 'MB', node.faasboxMb, { name: `target ${TARGETS.idleRssMb} MB`, samples: [TARGETS.idleRssMb] }, {
    what: 'RSS of `npm start` (role all: api, projections and a worker) on Node, started, one user and 10 functions, idle 1 s; lower is better',
    bun: { faasboxMb: median(bun.faasboxMb), afterLoadMb: bun.faasboxAfterLoadMb },
    nodeAfterLoadMb: node.faasboxAfterLoadMb,
    bareHonoMb: { node: median(node.bareMb), bun: median(bun.bareMb) },
  });
}

/** Five readings of the process's resident set over half a second. */
async function rssSamples(pid: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssMb(pid));
    await sleep(100);
  }
  return samples;
}

function rssMb(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return round(kb / 1024);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const round = (value: number) => Math.round(value * 100) / 100;

