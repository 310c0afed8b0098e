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

async function runRegular(): Promise<Counts> {
  return runUvu(['test', pattern, '-i', 'support', '-i', 'fixtures', '-i', 'reliability'], 'live');
}

async function runReliability(): Promise<Counts> {
  const files = readdirSync(`${root}test/reliability`).filter((file) => new RegExp(pattern).test(file));
  const totals: Counts = { passed: 0, failed: 0, skipped: 0 };
  // uvu takes a pattern: the file's exact name, escaped.
  const runFile = async (file: string) => add(totals, await runUvu(['test/reliability', `^${file.replace(/[.]/g, '\\.')}$`], 'buffered'));
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
function runUvu(args: string[], output: 'live' | 'buffered'): Promise<Counts> {
  const uvuArgs = ['node_modules/uvu/bin.js', ...args, ...(process.stdout.isTTY ? [] : ['--no-color'])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...uvuArgs], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const collect = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
    if (output === 'live') to.write(chunk);
    text += chunk.toString('utf8');
  };
  child.stdout.on('data', collect(process.stdout));
  child.stderr.on('data', collect(process.stderr));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (output === 'buffered') process.stdout.write(text);
      const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
      const count = (label: string) => Number(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(plain)?.[1] ?? NaN);
      const total = count('Total');
      const passed = Number.isNaN(count('Passed')) ? 0 : count('Passed');
      const skipped = Number.isNaN(count('Skipped')) ? 0 : count('Skipped');
      let failed = Number.isNaN(total) ? 1 : total - passed - skipped;
      if (failed === 0 && (code !== 0 || signal !== null)) failed = 1;
      resolve({ passed, failed, skipped });
    });
  });
}

const totals: Counts = { passed: 0, failed: 0, skipped: 0 };
if (mode !== '--reliability') add(totals, await runRegular());
if (mode !== '') add(totals, await runReliability());
if (totals.skipped > 0) console.log(`\n${totals.skipped} test(s) skipped: each suite printed why above.`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed > 0 ? 1 : 0);
