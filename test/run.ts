/**
 * Runs the uvu suites and ends with the line CI reads: `N passed, N failed`.
 * uvu swallows an error thrown in a before/after hook and may still exit 0, having run fewer
 * tests than the suite defines; every test defined and not passed is counted failed here.
 *   tsx test/run.ts [pattern]   e.g. `unit`, `contract`, `int`, `e2e`, or parts of file names: `job-bus|executions`
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const kind = process.argv[2] ?? '';
// Names of files to run, as a regular expression over file names: `unit`, `e2e`, `job-bus|executions`.
const pattern = `(${kind.replace(/[^\w.|-]/g, '') || '.'}).*\\.test\\.ts$`;

const uvuArgs = ['node_modules/uvu/bin.js', 'test', pattern, '-i', 'support', '-i', 'fixtures'];
if (!process.stdout.isTTY) uvuArgs.push('--no-color');
const child = spawn(process.execPath, ['--import', 'tsx', ...uvuArgs], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });

let output = '';
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  output += chunk.toString('utf8');
});

child.on('close', (code, signal) => {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const count = (label: string) => Number(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(plain)?.[1] ?? NaN);
  const total = count('Total');
  const passed = count('Passed');
  const skipped = count('Skipped');
  let failed = Number.isNaN(total) ? 1 : total - passed - skipped;
  if (failed === 0 && (code !== 0 || signal !== null)) failed = 1;
  if (skipped > 0) console.log(`\n${skipped} test(s) skipped: each suite printed why above.`);
  console.log(`\n${Number.isNaN(passed) ? 0 : passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
});
