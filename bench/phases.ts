/**
 * Where an execution's time goes, read from the outside as an operator would: from the log lines
 * a request leaves (`execution queued`, the worker's `execution finished` with its phases, the
 * access line `http request`), found by the correlation id the bench sent, which give each
 * execution's own values; and from the api's /metrics (`faasbox_execution_phase_duration_seconds`,
 * sent by the workers with each final status), whose sums and counts over a stretch of runs give
 * the phases' means, as a cross-check.
 */
import { median } from './figure.ts';

export const PHASES = ['queue_wait', 'pull', 'create_start', 'run', 'remove'] as const;
export type Phase = (typeof PHASES)[number];

export type PhaseTotals = Record<Phase, { seconds: number; count: number }>;

export async function scrapePhaseTotals(apiUrl: string): Promise<PhaseTotals> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const totals = Object.fromEntries(PHASES.map((phase) => [phase, { seconds: 0, count: 0 }])) as PhaseTotals;
  const line = /^faasbox_execution_phase_duration_seconds_(sum|count)\{phase="(\w+)"\} (\S+)$/gm;
  for (const [, kind, phase, value] of text.matchAll(line)) {
    const total = totals[phase as Phase];
    if (!total) continue;
    if (kind === 'sum') total.seconds = Number(value);
    else total.count = Number(value);
  }
  return totals;
}

/** Mean ms of each phase over the executions that ended between the two scrapes. */
export function phaseMeansMs(before: PhaseTotals, after: PhaseTotals): Record<Phase, number> {
  return Object.fromEntries(
    PHASES.map((phase) => {
      const count = after[phase].count - before[phase].count;
      const seconds = after[phase].seconds - before[phase].seconds;
      return [phase, count > 0 ? round((seconds * 1000) / count) : Number.NaN];
    }),
  ) as Record<Phase, number>;
}

/** The worker's names for the phases, as in its log lines and statuses. */
type WorkerPhase = 'queueWait' | 'pull' | 'createStart' | 'run' | 'remove';
const DOCKER_WORKER_PHASES: readonly WorkerPhase[] = ['pull', 'createStart', 'run', 'remove'];

type LogLine = { time: string; message: string; correlationId?: string; durationMs?: number; phases?: Record<string, number> };

/**
 * From the log lines of the requests with these correlation ids, the median of:
 * - `accept`: the request's arrival (its access line's time minus its duration) to `execution
 *   queued` (authenticated, slot taken, queued event appended, job published);
 * - `recording`: the worker's `execution finished` (its final status published, the container
 *   removed) to the access line (the status recorded, the slot freed, the answer written);
 * - `server`: the access line's duration, all the request spent in the api; `docker`, the
 *   engine's share of it (pull, createStart, run, remove), and `serverOwn`, the rest;
 * - each phase the worker measured (queueWait, pull, createStart, run, remove), from its
 *   `execution finished` line: per-execution values, where /metrics only gives their sums.
 * Log times have millisecond resolution: these are good to a millisecond or two.
 */
export function requestSteps(lines: readonly string[], correlationIds: ReadonlySet<string>) {
  const byRequest = new Map<string, Map<string, LogLine>>();
  for (const text of lines) {
    if (!text.startsWith('{')) continue;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      continue;
    }
    if (!line.correlationId || !correlationIds.has(line.correlationId)) continue;
    const seen = byRequest.get(line.correlationId) ?? new Map<string, LogLine>();
    seen.set(line.message, line);
    byRequest.set(line.correlationId, seen);
  }
  const accept: number[] = [];
  const recording: number[] = [];
  const server: number[] = [];
  const phases = new Map<string, number[]>();
  /** Per request: the engine's share (pull, create and start, run, remove), and the rest of its time in the api. */
  const docker: number[] = [];
  const serverOwn: number[] = [];
  for (const seen of byRequest.values()) {
    const answered = seen.get('http request');
    const queued = seen.get('execution queued');
    const finished = seen.get('execution finished');
    if (!answered || answered.durationMs === undefined) continue;
    const answeredAt = Date.parse(answered.time);
    server.push(answered.durationMs);
    if (queued) accept.push(Date.parse(queued.time) - (answeredAt - answered.durationMs));
    if (finished) recording.push(answeredAt - Date.parse(finished.time));
    for (const [phase, ms] of Object.entries(finished?.phases ?? {})) phases.set(phase, [...(phases.get(phase) ?? []), ms]);
    if (finished?.phases) {
      const engineMs = DOCKER_WORKER_PHASES.reduce((sum, phase) => sum + (finished.phases![phase] ?? 0), 0);
      docker.push(engineMs);
      serverOwn.push(answered.durationMs - engineMs);
    }
  }
  const medianOf = (values: number[]) => (values.length > 0 ? round(median(values)) : Number.NaN);
  return {
    acceptMs: medianOf(accept),
    recordingMs: medianOf(recording),
    serverMs: medianOf(server),
    dockerMs: medianOf(docker),
    serverOwnMs: medianOf(serverOwn),
    phaseMediansMs: Object.fromEntries([...phases].map(([phase, values]) => [phase, medianOf(values)])) as Partial<Record<WorkerPhase, number>>,
    requests: server.length,
  };
}

const round = (value: number) => Math.round(value * 10) / 10;
