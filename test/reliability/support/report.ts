/**
 * Figures of a reliability run (counts of faults injected and survived, latencies): printed as
 * they are measured, and kept in test/artifacts/reliability/<figure>.json so RELIABILITY.md can
 * quote the last run. One file per figure: the suites run in parallel processes.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../artifacts/reliability/', import.meta.url));

export function reportFigure(name: string, values: Record<string, unknown>): void {
  console.log(`  [figure] ${name}: ${JSON.stringify(values)}`);
  mkdirSync(DIR, { recursive: true });
  const file = `${DIR}${name.replace(/[^\w.-]+/g, '-')}.json`;
  writeFileSync(`${file}.${process.pid}.tmp`, `${JSON.stringify({ name, ...values, at: new Date().toISOString() }, null, 2)}\n`);
  renameSync(`${file}.${process.pid}.tmp`, file);
}
