/**
 * Figures of a reliability run (counts of faults injected and survived, latencies): printed as
 * they are measured, and kept in test/artifacts/reliability.json (one key per figure, merged
 * across suites) so RELIABILITY.md can quote the last run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ARTIFACTS = fileURLToPath(new URL('../../artifacts/', import.meta.url));
const FILE = `${ARTIFACTS}reliability.json`;

export function reportFigure(name: string, values: Record<string, unknown>): void {
  console.log(`  [figure] ${name}: ${JSON.stringify(values)}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const all = existsSync(FILE) ? (JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, unknown>) : {};
  all[name] = { ...values, at: new Date().toISOString() };
  writeFileSync(FILE, `${JSON.stringify(all, null, 2)}\n`);
}
