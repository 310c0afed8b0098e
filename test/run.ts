/**
 * Runs the uvu suites and ends with the line CI reads: `N passed, N failed`.
 * uvu swallows an error thrown in a before/after hook and may still exit 0, having run fewer
 * tests than the suite defines; every test defined and not passed is counted failed here.
 *   tsx test/run.ts [pattern]                 e.g. `unit`, `contract`, `int`, `e2e`, or parts of file names: `job-bus|executions`
 *   tsx test/run.ts --reliability [pattern]   the fault, race, hostile-input and load suites of test/reliability
 *   tsx test/run.ts --all                     both, one after the other, with one total (`npm test`)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mode = process.argv[2]?.startsWith('--') ? process.argv[2] : '';
const kind = process.argv[mode ? 3 : 2] ?? '';
if (!['', '--reliability', '--all'].includes(mode)) throw new Error(`unknown option ${mode}: use --reliability or --all`);
// Names of files to run, as a regular expression over file names: `unit`, `e2e`, `job-bus|executions`.
const pattern = `(${kind.replace(/[^\w.|-]/g, '') || '.'}).*\\.test\\.ts$`;

// The reliability suites take minutes and load the machine on purpose: they run apart, after the others.
const regular = ['test', pattern, '-i', 'support', '-i', 'fixtures', '-i', 'reliability'];
const reliability = ['test/reliability', pattern, '-i', 'support'];
const runs = mode === '--all' ? [regular, reliability] : mode === '--reliability' ? [reliability] : [regular];

type Counts = { passed: number; failed: number; skipped: number };

function runUvu(args: string[]): Promise<Counts> {
  const uvuArgs = ['node_modules/uvu/bin.js', ...args, ...(process.stdout.isTTY ? [] : ['--no-color'])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...uvuArgs], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    output += chunk.toString('utf8');
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
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
for (const args of runs) {
  const counts = await runUvu(args);
  totals.passed += counts.passed;
  totals.failed += counts.failed;
  totals.skipped += counts.skipped;
}
if (totals.skipped > 0) console.log(`\n${totals.skipped} test(s) skipped: each suite printed why above.`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed > 0 ? 1 : 0);
