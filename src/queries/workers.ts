import type { CommandDeps } from '../commands/deps.ts';
import { DomainError } from '../domain/errors.ts';
import { BusUnavailableError } from '../ports/job-bus.ts';
import { type WorkerReport, isStaleReport } from '../ports/worker-report.ts';

export type WorkerView = WorkerReport & { stale: boolean };

/**
 * Every worker's last report as the bus keeps it (src/ports/worker-report.ts), by worker id, each
 * marked stale when older than three of its intervals: a worker that stopped reporting without
 * a word (killed, its host gone) shows as stale until the bus drops its report. Staleness reads
 * the worker's clock against this api's, so hosts whose clocks disagree by more than that would
 * look stale: production hosts keep time (NTP).
 */
export async function listWorkers(deps: Pick<CommandDeps, 'bus' | 'clock'>): Promise<WorkerView[]> {
  let reports: WorkerReport[];
  try {
    reports = await deps.bus.listWorkerReports();
  } catch (error) {
    if (!(error instanceof BusUnavailableError)) throw error;
    throw new DomainError('JobBusUnavailable', 'the job bus cannot list the workers now; try again shortly', 5);
  }
  const now = deps.clock.now();
  return reports
    .map((report) => viewOf(report, now))
    .sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
}

/**
 * The fields this release knows and nothing else, each with a value: a worker of another release
 * may say more or less, and what an operator is answered is exactly what the schema says.
 */
function viewOf(report: WorkerReport, now: Date): WorkerView {
  const intervalMs = Number.isFinite(report.intervalMs) && report.intervalMs > 0 ? report.intervalMs : 5_000;
  return {
    workerId: report.workerId,
    state: report.state ?? 'running',
    startedAt: report.startedAt,
    reportedAt: report.reportedAt,
    intervalMs,
    concurrency: report.concurrency ?? 0,
    inFlight: report.inFlight ?? 0,
    prestarted: report.prestarted ?? {},
    reused: report.reused ?? {},
    engineReachable: report.engineReachable ?? null,
    disk: report.disk ?? null,
    lastPrunes: report.lastPrunes ?? [],
    stale: isStaleReport({ reportedAt: report.reportedAt, intervalMs }, now),
  };
}
