/**
 * Runs the uvu suites and ends with the line CI reads: `N passed, N failed`.
 * uvu swallows an error thrown in a before/after hook and may still exit 0, having run fewer
 * tests than the suite defines; every test defined and not passed is counted failed here.
 *   tsx test/run.ts [pattern]                 e.g. `unit`, `contract`, `int`, `e2e`, or parts of file names: `job-bus|executions`
 *   tsx test/run.ts --reliability [pattern]   the fault, race, hostile-input and load suites of test/reliability
 *   tsx test/run.ts --all                     both, one after the other, with one total (`npm test`)
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mode = process.argv[2]?.startsWith('--') ? process.argv[2] : '';
const kind = process.argv[mode ? 3 : 2] ?? '';
if (!['', '--reliability', '--all'].includes(mode)) throw new Error(`unknown option ${mode}: use --reliability or --all`);
// Names of files to run, as a regular expression over file names: `unit`, `e2e`, `job-bus|executions`.
const pattern = `(${kind.replace(/[^\w.|-]/g, '') || '.'}).*\\.test\\.ts$`;

/**
 * The reliability suites load the machine on purpose and mostly wait (for timeouts, restarts,
 * the engine): they run after the others, each file in its own process, this many at once. Each
 * holds its own servers, ports and containers, and is written to pass on a loaded machine.
 */
const RELIABILITY_LANES = 3;
/**
 * Run alone, after the others: `races` fills the engine with 200 containers on purpose (beside it,
 * another suite's containers start too slowly for its own deadlines), and `load` reports
 * latencies, which mean something only on a machine it has to itself.
 */
const RELIABILITY_ALONE = new Set(['races.test.ts', 'load.test.ts']);

type Counts = { passed: number; failed: number; skipped: number };

/**
 * A run still going after this long has hung (the regular suites take about 6 minutes, a
 * reliability file at most about 5): it is killed with everything it started and counted failed,
 * so a hang fails CI with its name instead of running into CI's own limit.
 */
const REGULAR_LIMIT_MS = 30 * 60_000;
const RELIABILITY_FILE_LIMIT_MS = 15 * 60_000;
const AFTER_TOTALS_MS = 10_000;

async function runRegular(): Promise<Counts> {
  return runUvu(['test', pattern, '-i', 'support', '-i', 'fixtures', '-i', 'reliability'], 'live', REGULAR_LIMIT_MS);
}

async function runReliability(): Promise<Counts> {
  const files = readdirSync(`${root}test/reliability`).filter((file) => new RegExp(pattern).test(file));
  const totals: Counts = { passed: 0, failed: 0, skipped: 0 };
  // uvu takes a pattern: the file's exact name, escaped.
  const runFile = async (file: string) =>
    add(totals, await runUvu(['test/reliability', `^${file.replace(/[.]/g, '\\.')}$`], 'buffered', RELIABILITY_FILE_LIMIT_MS));
  const queue = files.filter((file) => !RELIABILITY_ALONE.has(file));
  const lane = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) await runFile(file);
  };
  await Promise.all(Array.from({ length: RELIABILITY_LANES }, lane));
  for (const file of files.filter((name) => RELIABILITY_ALONE.has(name))) await runFile(file);
  return totals;
}

const add = (totals: Counts, counts: Counts) => {
  totals.passed += counts.passed;
  totals.failed += counts.failed;
  totals.skipped += counts.skipped;
};

/** `buffered`: the output is printed in one piece when the run ends, so parallel runs do not interleave. */
async function runUvu(args: string[], output: 'live' | 'buffered', limitMs: number): Promise<Counts> {
  const uvuArgs = ['node_modules/uvu/bin.js', ...args, ...(process.stdout.isTTY ? [] : ['--no-color'])];
  // Its own process group, so that a hung run is killed with the servers it spawned.
  const child = spawn(process.execPath, ['--import', 'tsx', ...uvuArgs], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  let lingering: NodeJS.Timeout | undefined;
  const collect = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
    if (output === 'live') to.write(chunk);
    text += chunk.toString('utf8');
    // uvu exits when nothing is left to run: a handle a suite left open (a timer, a socket) keeps
    // it alive after its totals for ever. Its results are in; it is stopped, and told.
    if (lingering === undefined && /^\s*Duration:/m.test(text)) {
      lingering = setTimeout(() => {
        const message = `\n!!! \`uvu ${args.join(' ')}\` printed its totals but did not exit within ${AFTER_TOTALS_MS / 1000} s: a suite left a handle open; stopped\n`;
        text += message;
        if (output === 'live') process.stdout.write(message);
        killGroup();
      }, AFTER_TOTALS_MS);
    }
  };
  const killGroup = () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  child.stdout.on('data', collect(process.stdout));
  child.stderr.on('data', collect(process.stderr));
  const closed = new Promise((resolve) => child.on('close', resolve));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  let hung = false;
  const limit = setTimeout(() => {
    hung = true;
    const message = `\n!!! HUNG: \`uvu ${args.join(' ')}\` was still running after ${limitMs / 60_000} min: killed, counted failed\n`;
    text += message;
    if (output === 'live') process.stdout.write(message);
    killGroup();
  }, limitMs);
  const { code, signal } = await exited;
  clearTimeout(limit);
  clearTimeout(lingering);
  // A process the suite left behind may still hold the output pipes open: the run is over anyway.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000))]);

  if (output === 'buffered') process.stdout.write(text);
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  const count = (label: string) => Number(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(plain)?.[1] ?? NaN);
  const total = count('Total');
  const passed = Number.isNaN(count('Passed')) ? 0 : count('Passed');
  const skipped = Number.isNaN(count('Skipped')) ? 0 : count('Skipped');
  let failed = Number.isNaN(total) ? 1 : total - passed - skipped;
  const stoppedAfterTotals = lingering !== undefined && signal === 'SIGKILL' && !hung;
  const endedBadly = hung || (!stoppedAfterTotals && (code !== 0 || signal !== null));
  if (failed === 0 && endedBadly) failed = 1;
  return { passed, failed, skipped };
}

const totals: Counts = { passed: 0, failed: 0, skipped: 0 };
if (mode !== '--reliability') add(totals, await runRegular());
if (mode !== '') add(totals, await runReliability());
if (totals.skipped > 0) console.log(`\n${totals.skipped} test(s) skipped: each suite printed why above.`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed > 0 ? 1 : 0);
