import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { openBetterSqlite3 } from '../adapters/sqlite/better-sqlite3-driver.ts';
import { loadConfig } from '../config.ts';
import { openReadModelDatabase } from '../entry/open-stores.ts';
import type { EventStore } from '../ports/event-store.ts';
import { type AuditEntry, auditStream, auditUser } from '../../projections/audit.ts';
import type { Projection } from '../../projections/projection.ts';
import { readCheckpoint, resetProjections } from '../../projections/read-model-store.ts';
import { digestProjection } from './projection-digest.ts';
import { createReadModels } from '../../projections/read-models.ts';
import { startProjections } from '../../projections/runner.ts';
import { projectionStatus } from '../../projections/status.ts';
import { openExistingReadModels, withStore } from './operator-stores.ts';
import { addKeyCommands } from './key-commands.ts';
import { addOperatorRightsCommands } from './operator-rights-commands.ts';
import { UsageError } from './usage-error.ts';

/**
 * What operators run beside a deployment: grant and revoke operator rights, rotate the master
 * key, audit any stream or user, see and rebuild the read models. They read the same FAASBOX_* variables as the api, so
 * they find the same stores.
 */
export function addOperatorCommands(program: Command) {
  addOperatorRightsCommands(program);
  addKeyCommands(program);

  program
    .command('audit')
    .description("every event of a stream, or of one user's streams, in order (secrets masked)")
    .argument('[stream]', 'stream name, e.g. user-<id>, function-<id>, execution-<id>')
    .option('--user <email>', 'the history of the accounts registered with this email')
    .option('--json', 'one JSON object per event')
    .action(async (stream: string | undefined, options: { user?: string; json?: boolean }) => {
      if ((stream === undefined) === (options.user === undefined)) throw new UsageError('give a stream name or --user <email>, not both');
      const config = loadConfig(process.env);
      await withStore(config, async (store) => {
        if (stream !== undefined) {
          const { entries } = await auditStream(store, stream);
          if (entries.length === 0) throw new UsageError(`no stream named ${stream}`);
          printAudit(entries, options.json === true, false);
          return;
        }
        const readModels = openExistingReadModels(config);
        try {
          const history = await auditUser(store, createReadModels(readModels), options.user!);
          if (history === undefined) throw new UsageError(`no account ever had the email ${options.user}`);
          if (options.json !== true) {
            for (const account of history.accounts) {
              console.log(`account ${account.id} ${account.email} registered ${account.createdAt}${account.deleted ? ' (deleted)' : ''}`);
            }
          }
          printAudit(history.entries, options.json === true, true);
        } finally {
          readModels.close();
        }
      });
    });

  const projections = program.command('projections').description('the read models the api answers queries from');

  projections
    .command('status')
    .description('each read model: checkpoint and events behind')
    .option('--digest', 'also print a digest of each read model (equal digests: equal read models)')
    .option('--json', 'as JSON')
    .action(async (options: { digest?: boolean; json?: boolean }) => {
      const config = loadConfig(process.env);
      const db = openExistingReadModels(config);
      try {
        const readModels = createReadModels(db);
        const status = await withStore(config, (store) => projectionStatus(store, db, readModels.all));
        const rows = status.projections.map((projection, i) => ({
          ...projection,
          ...(options.digest ? { digest: digestProjection(db, readModels.all[i]!) } : {}),
        }));
        if (options.json) return console.log(JSON.stringify({ head: status.head, projections: rows }));
        console.log(`store head: position ${status.head}`);
        printTable(rows.map(({ name, version, checkpoint, lag, ...rest }) => ({ name, version, checkpoint, 'events behind': lag, ...rest })));
      } finally {
        db.close();
      }
    });

  projections
    .command('rebuild')
    .description('empty read models and replay the whole log into them (stop the api using them first)')
    .argument('[name]', 'one read model (default: all)')
    .option('--json', 'print the summary as JSON')
    .action(async (name: string | undefined, options: { json?: boolean }) => {
      const config = loadConfig(process.env);
      const readModels = openReadModelDatabase(config, openBetterSqlite3);
      try {
        const all = createReadModels(readModels.db).all;
        const chosen = name === undefined ? all : all.filter((projection) => projection.name === name);
        if (chosen.length === 0) {
          throw new UsageError(`no read model named ${name}; there are ${all.map((projection) => projection.name).join(', ')}`);
        }
        const summary = await withStore(config, (store) => rebuild(store, readModels.db, chosen));
        if (options.json) return console.log(JSON.stringify(summary));
        console.log(
          `rebuilt ${chosen.length} read model(s) from ${summary.events} events in ${summary.seconds.toFixed(1)} s: ` +
            `${Math.round(summary.eventsPerSecond)} events/s, peak RSS ${summary.peakRssMb} MB`,
        );
        printTable(
          summary.projections.map((projection) => ({
            name: projection.name,
            digest: projection.digestAfter.slice(0, 16),
            'against the model it replaced': verdict(projection, summary.position),
          })),
        );
      } finally {
        readModels.close();
      }
    });
}

type RebuildSummary = {
  events: number;
  /** The global position the rebuilt read models reached. */
  position: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMb: number;
  projections: RebuiltProjection[];
};

/** The model before the rebuild (its checkpoint and digest) and after it. */
type RebuiltProjection = { name: string; checkpointBefore: number; digestBefore: string; digestAfter: string };

/** A rebuild that reached the same position as the model it replaced must have equal rows. */
function verdict(projection: RebuiltProjection, position: number): string {
  if (projection.checkpointBefore === 0) return 'none (it was empty)';
  if (projection.checkpointBefore !== position) return `not comparable (it was at ${projection.checkpointBefore})`;
  return projection.digestBefore === projection.digestAfter ? 'equal' : 'DIFFERENT: the replaced model had drifted';
}

/** Replays the log from zero into the chosen read models, with a progress bar on stderr. */
async function rebuild(store: EventStore, db: Parameters<typeof digestProjection>[0], chosen: readonly Projection[]): Promise<RebuildSummary> {
  const before = chosen.map((projection) => ({
    checkpoint: readCheckpoint(db, projection.name)?.position ?? 0,
    digest: digestProjection(db, projection),
  }));
  resetProjections(db, chosen);
  const [newest] = await store.readAll({ maxCount: 1, direction: 'backwards' });
  const head = newest?.position ?? 0;
  const started = performance.now();
  const rate = (applied: number) => Math.round(applied / Math.max((performance.now() - started) / 1000, 0.001));
  const bar = new SingleBar({
    format: 'rebuilding [{bar}] {percentage}% | {applied} events | {rate} events/s | ETA {eta_formatted}',
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 2_000,
    hideCursor: true,
  });
  bar.start(Math.max(head, 1), 0, { applied: 0, rate: 0 });
  const runner = await startProjections(store, db, chosen, {
    onCommit: (position, applied) => bar.update(position, { applied, rate: rate(applied) }),
  });
  await Promise.race([runner.ready, runner.failed.then((error) => Promise.reject(error))]);
  await runner.stop();
  bar.update(Math.max(head, 1), { applied: runner.applied, rate: rate(runner.applied) });
  bar.stop();
  const seconds = (performance.now() - started) / 1000;
  return {
    events: runner.applied,
    position: runner.position,
    seconds,
    eventsPerSecond: runner.applied / Math.max(seconds, 0.001),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    projections: chosen.map((projection, i) => ({
      name: projection.name,
      checkpointBefore: before[i]!.checkpoint,
      digestBefore: before[i]!.digest,
      digestAfter: digestProjection(db, projection),
    })),
  };
}

function printAudit(entries: readonly AuditEntry[], json: boolean, withStream: boolean) {
  for (const entry of entries) {
    if (json) {
      console.log(JSON.stringify(entry));
      continue;
    }
    const where = withStream ? `${entry.stream} ` : '';
    console.log(
      `${where}#${entry.revision} @${entry.position} ${entry.recordedAt} ${entry.type} correlation=${entry.correlationId}` +
        `${entry.causationId ? ` causation=${entry.causationId}` : ''} ${JSON.stringify(entry.data)}`,
    );
  }
}

function printTable(rows: readonly Record<string, unknown>[]) {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => String(row[column]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(columns));
  for (const row of rows) console.log(line(columns.map((column) => String(row[column]))));
}
