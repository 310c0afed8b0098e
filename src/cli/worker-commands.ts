import type { Command } from 'commander';
import { type ClientOptions, runClient, withClientOptions } from './client-session.ts';
import { printJson, printTable } from './output.ts';

/** `workers`: every worker's last report, for an operator (GET /v1/admin/workers), over HTTP like the client commands. */
export function addWorkerCommands(program: Command) {
  withClientOptions(
    program.command('workers').description("every worker's last report (operators): executions, pre-started containers, disk, last prune"),
  ).action((options: ClientOptions) =>
    runClient(options, async (session) => {
      const workers = await session.api().listWorkers();
      if (session.json) return void printJson({ workers });
      if (workers.length === 0) return void console.error('no worker reported lately');
      const sum = (counts: Record<string, Record<string, number>>, field: string) => Object.values(counts).reduce((total, each) => total + (each[field] ?? 0), 0);
      printTable(
        ['WORKER', 'STATE', 'IN-FLIGHT', 'PRESTARTED', 'REUSED', 'ENGINE', 'DISK', 'LAST PRUNE', 'REPORTED'],
        workers.map((worker) => {
          const prune = worker.lastPrunes[0];
          return [
            worker.workerId,
            worker.state,
            `${worker.inFlight}/${worker.concurrency}`,
            // Ready ones, over as many functions.
            `${sum(worker.prestarted, 'ready')} (${Object.keys(worker.prestarted).length} fn)`,
            `${sum(worker.reused, 'idle')} idle, ${sum(worker.reused, 'busy')} busy`,
            worker.engineReachable === null ? '-' : worker.engineReachable ? 'up' : 'unreachable',
            worker.disk?.usedPercent == null ? '-' : `${worker.disk.usedPercent}% (high ${worker.disk.highWater}%)`,
            prune ? `${prune.outcome} ${prune.at}` : '-',
            `${worker.reportedAt}${worker.stale ? ' STALE' : ''}`,
          ];
        }),
      );
    }),
  );
}
