/**
 * `npm run bench`: every benchmark group in turn, a table of the figures (each with
 * its baseline measured in the same run, and its target), bench/results.json, and one last line.
 *
 *   npm run bench [-- --quick] [-- --only <regex>] [-- --cpu-prof <dir>]
 *
 * --quick      fewer samples: the whole run in under two minutes
 * --only       runs the groups whose name, or the name of a figure they make, matches
 * --cpu-prof   profiles every Faasbox server process (as `node --cpu-prof` would), a .cpuprofile per process in <dir>
 *              when each stops (open them in Chrome DevTools or speedscope)
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchApi } from './api.ts';
import { benchConsolePages } from './console.tsx';
import { engine, removeLeftovers } from './bare-docker.ts';
import type { ExecutionBenchOptions } from './deployment.ts';
import { CONCURRENCY_LEVELS, benchColdExecution, benchConcurrency } from './executions.ts';
import type { Figure } from './figure.ts';
import { releaseBenchImages } from './images.ts';
import { describeMachine, summarizeMachine } from './machine.ts';
import { benchPrestartedExecution } from './prestarted.ts';
import { benchReuseThroughput } from './reuse.ts';
import { benchScaleOut } from './scale-out.ts';
import { benchStorage } from './storage.ts';
import { TARGETS } from './targets.ts';
import { benchTransport } from './transport.ts';

type Group = { name: string; figures: readonly string[]; run(options: ExecutionBenchOptions): Promise<Figure[]> };

/** In the order they run: the executions first, the storage last (its rebuild is the heaviest). */
const GROUPS: readonly Group[] = [
  { name: 'cold-execution', figures: ['cold-execution-overhead'], run: benchColdExecution },
  { name: 'prestarted-execution', figures: ['prestarted-execution'], run: benchPrestartedExecution },
  { name: 'concurrency', figures: CONCURRENCY_LEVELS.map((n) => `concurrency-${n}`), run: benchConcurrency },
  { name: 'reuse', figures: ['reuse-throughput', 'reuse-throughput-nats'], run: benchReuseThroughput },
  { name: 'transport', figures: ['nats-vs-inprocess'], run: benchTransport },
  { name: 'scale-out', figures: ['scale-out-2-workers'], run: benchScaleOut },
  { name: 'api', figures: ['api-functions-node', 'api-functions-bun', 'api-idle-rss'], run: benchApi },
  { name: 'console', figures: ['console-pages'], run: benchConsolePages },
  { name: 'storage', figures: ['sqlite-append', 'sqlite-append-concurrent', 'sqlite-append-batch', 'projection-rebuild'], run: benchStorage },
];

const RESULTS = fileURLToPath(new URL('results.json', import.meta.url));

async function main() {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, 'cpu-prof': { type: 'string' } },
  });
  const only = values.only === undefined ? null : new RegExp(values.only);
  const groups = GROUPS.filter((group) => only === null || [group.name, ...group.figures].some((name) => only.test(name)));
  if (groups.length === 0) throw new Error(`--only ${values.only}: no group matches (${GROUPS.map((g) => g.name).join(', ')})`);
  const options: ExecutionBenchOptions = { quick: values.quick, ...(values['cpu-prof'] ? { profileDir: values['cpu-prof'] } : {}) };

  const started = performance.now();
  const machine = await describeMachine(engine);
  console.log(`bench${options.quick ? ' --quick' : ''}: ${groups.map((g) => g.name).join(', ')}`);
  console.log(`machine: ${summarizeMachine(machine)}\n`);

  const figures: Figure[] = [];
  const failed: string[] = [];
  try {
    for (const group of groups) {
      const groupStarted = performance.now();
      process.stdout.write(`${group.name}… `);
      try {
        const made = await group.run(options);
        figures.push(...made);
        console.log(`${seconds(groupStarted)} s: ${made.map((f) => `${f.name} ${f.ratio}`).join(', ')}`);
      } catch (error) {
        failed.push(group.name);
        console.log(`failed after ${seconds(groupStarted)} s`);
        console.error(error);
      }
    }
  } finally {
    await releaseBenchImages(engine);
    await removeLeftovers();
  }

  const judged = figures.map((figure) => {
    const target = TARGETS[figure.name];
    return { ...figure, ...(target ? { target: { text: target.text, met: target.met(figure) } } : {}) };
  });
  console.log(`\n${table(judged)}\n`);
  const totalSeconds = seconds(started);
  writeFileSync(
    RESULTS,
    `${JSON.stringify({ machine, run: { quick: options.quick, only: values.only ?? null, seconds: totalSeconds }, figures: judged }, null, 2)}\n`,
  );
  const withTarget = judged.filter((figure) => figure.target);
  const met = withTarget.filter((figure) => figure.target!.met).length;
  console.log(
    `bench: ${judged.length} figures in ${totalSeconds} s, ${met} of ${withTarget.length} targets met` +
      (failed.length > 0 ? `, ${failed.length} group(s) failed: ${failed.join(', ')}` : '') +
      ` (bench/results.json)`,
  );
  // Missed targets are reported, never a failure; a group that could not run is.
  process.exitCode = failed.length > 0 ? 1 : 0;
}

type Judged = Figure & { target?: { text: string; met: boolean } };

/** A Markdown table, padded so it also reads in a terminal (and pastes into the README as is). */
function table(figures: Judged[]): string {
  const header = ['figure', 'unit', 'median', 'p95', 'baseline', 'baseline median', 'ratio', 'target', 'met'];
  const rows = figures.map((f) => [
    f.name,
    f.unit,
    number(f.median),
    number(f.p95),
    f.baseline,
    number(f.baselineMedian),
    f.ratio.toFixed(2),
    f.target?.text ?? '—',
    f.target ? (f.target.met ? 'yes' : 'no') : '—',
  ]);
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const number = (value: number) =>
  Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en') : Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);

const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

// Ctrl-C reaches the servers too (same process group) and they stop on their own; what this
// process started in the engine directly is removed here.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void removeLeftovers().finally(() => process.exit(130));
  });
}

await main();
