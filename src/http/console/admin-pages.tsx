import type { Child } from 'hono/jsx';
import type { AuditEntry } from '../../../projections/audit.ts';
import type { WorkerView } from '../../queries/workers.ts';
import { EventsTable, Layout, Problems, type Viewer } from './layout.tsx';

export type ActiveView = { total: number; byUser: { userId: string; email: string | null; active: number }[] };

/** What the platform is doing now: who holds the slots, against the limits. */
export function OperatorPage(props: {
  viewer: Viewer;
  active: ActiveView;
  byStatus: { queued: number; running: number };
  limits: { perUser: number; platform: number | null };
  sampleSeconds: number;
  /** Null when the bus could not list them now. */
  workers: WorkerView[] | null;
  /** Function names by id, where the read model knows them. */
  functionNames: Map<string, string>;
  children?: Child;
}) {
  const { active, limits } = props;
  return (
    <Layout title="Operator" viewer={props.viewer}>
      <h2 id="slots">Slots</h2>
      <dl class="record" aria-labelledby="slots">
        <dt>In use</dt>
        <dd>
          {active.total}
          {limits.platform === null ? ' (no platform limit)' : ` of ${limits.platform}`}
        </dd>
        <dt>Queued</dt>
        <dd>{props.byStatus.queued}</dd>
        <dt>Running</dt>
        <dd>{props.byStatus.running}</dd>
        <dt>Per user</dt>
        <dd>at most {limits.perUser}</dd>
      </dl>

      <h2 id="active">Active executions per user</h2>
      {active.byUser.length === 0 ? (
        <p>None: nothing is queued or running.</p>
      ) : (
        <table aria-labelledby="active">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Active</th>
              <th scope="col">Of their limit</th>
            </tr>
          </thead>
          <tbody>
            {active.byUser.map((each) => (
              <tr>
                <td>{each.email ?? each.userId}</td>
                <td>{each.active}</td>
                <td>
                  {each.active} / {limits.perUser}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.children}

      <h2 id="workers">Workers</h2>
      {props.workers === null ? (
        <p role="alert">The job bus cannot list the workers now; reload in a moment.</p>
      ) : props.workers.length === 0 ? (
        <p>No worker has reported lately.</p>
      ) : (
        <Workers workers={props.workers} functionNames={props.functionNames} />
      )}

      <h2 id="charts">The last hour</h2>
      <p class="hint">Sampled by this api every {props.sampleSeconds} s from the figures /metrics exports; with several apis each charts the executions it recorded.</p>
      <div class="chart" data-chart="" data-src="/console/admin/metrics.json" data-series="executionsPerSecond,byOutcome.failed,byOutcome.timedOut" data-labels="all,failed,timed out" data-title="Executions per second" role="img" aria-label="Executions per second over the last hour"></div>
      <div
        class="chart"
        data-chart=""
        data-src="/console/admin/metrics.json"
        data-series="phases.queue_wait.p50Ms,phases.create_start.p50Ms,phases.take.p50Ms,phases.run.p50Ms,phases.run.p95Ms"
        data-labels="queue wait p50,create and start p50,pre-started take p50,run p50,run p95"
        data-title="Latency phases (ms)"
        role="img"
        aria-label="Latency of each phase of an execution, median and 95th percentile, over the last hour"
      ></div>

      <h2 id="audit">Audit</h2>
      <form class="inline" method="get" action="/console/admin/audit" aria-labelledby="audit">
        <label>
          Stream <span class="hint">user-…, function-…, execution-…, secrets-…</span>
          <input name="stream" required />
        </label>
        <button type="submit">Show its events</button>
      </form>
    </Layout>
  );
}

/** A stream's events as the operator's audit shows them: secrets masked. */
export function AuditPage(props: { viewer: Viewer; stream: string; entries: AuditEntry[]; problem?: string }) {
  return (
    <Layout title={`Audit of ${props.stream}`} viewer={props.viewer}>
      <Problems message={props.problem} />
      <form class="inline" method="get" action="/console/admin/audit" aria-label="Another stream">
        <label>
          Stream
          <input name="stream" required value={props.stream} />
        </label>
        <button type="submit">Show its events</button>
      </form>
      <EventsTable entries={props.entries} withRequest />
    </Layout>
  );
}

const MB = 1024 * 1024;
const megabytes = (bytes: number | null) => (bytes === null ? '?' : `${Math.round(bytes / MB)} MB`);

/** Every worker's last report: what it runs, what it keeps ready, its disk and its last prunes. */
function Workers(props: { workers: WorkerView[]; functionNames: Map<string, string> }) {
  const name = (functionId: string) => props.functionNames.get(functionId) ?? functionId.slice(0, 8);
  return (
    <table aria-labelledby="workers">
      <thead>
        <tr>
          <th scope="col">Worker</th>
          <th scope="col">State</th>
          <th scope="col">In flight</th>
          <th scope="col">Pre-started (ready / min)</th>
          <th scope="col">Reused (idle / busy)</th>
          <th scope="col">Engine</th>
          <th scope="col">Disk</th>
          <th scope="col">Last prunes</th>
        </tr>
      </thead>
      <tbody>
        {props.workers.map((worker) => (
          <tr>
            <td>{worker.workerId}</td>
            <td>
              {worker.state}
              {worker.stale ? ' (silent: stale)' : ''}
            </td>
            <td>
              {worker.inFlight} / {worker.concurrency}
            </td>
            <td>
              {Object.entries(worker.prestarted).length === 0
                ? 'none'
                : Object.entries(worker.prestarted)
                    .map(([functionId, pool]) => `${name(functionId)}: ${pool.ready} / ${pool.minWarm}`)
                    .join(', ')}
            </td>
            <td>
              {Object.entries(worker.reused).length === 0
                ? 'none'
                : Object.entries(worker.reused)
                    .map(([functionId, pool]) => `${name(functionId)}: ${pool.idle} / ${pool.busy}`)
                    .join(', ')}
            </td>
            <td>{worker.engineReachable === null ? '?' : worker.engineReachable ? 'reachable' : 'unreachable'}</td>
            <td>
              {worker.disk === null || worker.disk.usedPercent === null
                ? 'not seen'
                : `${worker.disk.usedPercent}% of ${megabytes(worker.disk.totalBytes)} (prunes above ${worker.disk.highWater}%)`}
            </td>
            <td>
              {worker.lastPrunes.length === 0
                ? 'none'
                : worker.lastPrunes.map((prune) => `${prune.at}: ${prune.outcome}, ${prune.imagesRemoved} image(s), ${megabytes(prune.bytesReclaimed)}`).join('; ')}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
