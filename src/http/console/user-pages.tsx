import type { ExecutionSummary } from '../../../projections/executions.ts';
import type { AuditEntry } from '../../../projections/audit.ts';
import { MIN_PASSWORD_BYTES } from '../../auth/passwords.ts';
import { EXECUTION_STATUSES, isTerminal } from '../../domain/execution-outcome.ts';
import { type FunctionDefinition, minWarmOf, versionOf } from '../../domain/functions.ts';
import type { ExecutionView } from '../../queries/execution-view.ts';
import { EventsTable, Layout, Problems, type Viewer } from './layout.tsx';

export type FieldProblem = { field: string; message: string };

export function SignInPage(props: { email?: string; problem?: string }) {
  return (
    <Layout title="Sign in">
      <Problems message={props.problem} />
      <form class="stacked" method="post" action="/console/sign-in">
        <label>
          Email
          <input name="email" type="email" autocomplete="username" required value={props.email ?? ''} />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <div>
          <button type="submit">Sign in</button>
        </div>
      </form>
      <p class="hint">The same account as the API and the command line (faasbox register).</p>
      <p>
        No account yet? <a href="/console/sign-up">Sign up</a>
      </p>
    </Layout>
  );
}

export function SignUpPage(props: { email?: string; problem?: string; fields?: FieldProblem[] }) {
  return (
    <Layout title="Sign up">
      <Problems message={props.problem} fields={props.fields} />
      <form class="stacked" method="post" action="/console/sign-up">
        <label>
          Email
          <input name="email" type="email" autocomplete="username" required value={props.email ?? ''} />
        </label>
        <label>
          Password <span class="hint">at least {MIN_PASSWORD_BYTES} bytes</span>
          <input name="password" type="password" autocomplete="new-password" required />
        </label>
        <label>
          The password again
          <input name="confirm" type="password" autocomplete="new-password" required />
        </label>
        <div>
          <button type="submit">Sign up</button>
        </div>
      </form>
      <p>
        Have an account? <a href="/console/sign-in">Sign in</a>
      </p>
    </Layout>
  );
}

/** The fields of the new-function form, as typed: shown again with the problems when refused. */
export type FunctionForm = { name?: string; image?: string; command?: string; env?: string; timeoutMs?: string; memoryMb?: string; minWarm?: string };

export function FunctionsPage(props: { viewer: Viewer; functions: FunctionDefinition[]; form?: FunctionForm; problem?: string; fields?: FieldProblem[] }) {
  const form = props.form ?? {};
  return (
    <Layout title="Functions" viewer={props.viewer}>
      {props.functions.length === 0 ? (
        <p>No functions yet: make one below.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Image</th>
              <th scope="col">Version</th>
              <th scope="col">Kept warm</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {props.functions.map((fn) => (
              <tr>
                <td>
                  <a href={`/console/functions/${fn.functionId}`}>{fn.name}</a>
                </td>
                <td>{fn.image}</td>
                <td>{versionOf(fn)}</td>
                <td>{minWarmOf(fn)}</td>
                <td>
                  <time datetime={fn.createdAt}>{fn.createdAt}</time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2 id="new">New function</h2>
      <Problems message={props.problem} fields={props.fields} />
      <form class="stacked" method="post" action="/console/functions" aria-labelledby="new">
        <label>
          Name
          <input name="name" required value={form.name ?? ''} />
        </label>
        <label>
          Image <span class="hint">a reference in a registry, e.g. 127.0.0.1:5000/team/app:1</span>
          <input name="image" required value={form.image ?? ''} />
        </label>
        <label>
          Command <span class="hint">one argument per line; empty: the image's own</span>
          <textarea name="command">{form.command ?? ''}</textarea>
        </label>
        <label>
          Environment <span class="hint">NAME=value, one per line</span>
          <textarea name="env">{form.env ?? ''}</textarea>
        </label>
        <label>
          Timeout (ms) <span class="hint">empty: the platform's default</span>
          <input name="timeoutMs" inputmode="numeric" value={form.timeoutMs ?? ''} />
        </label>
        <label>
          Memory (MB) <span class="hint">empty: the platform's default</span>
          <input name="memoryMb" inputmode="numeric" value={form.memoryMb ?? ''} />
        </label>
        <label>
          Pre-started containers per worker <span class="hint">0: only while it is called</span>
          <input name="minWarm" inputmode="numeric" value={form.minWarm ?? ''} />
        </label>
        <div>
          <button type="submit">Create</button>
        </div>
      </form>
    </Layout>
  );
}

export function FunctionPage(props: {
  viewer: Viewer;
  fn: FunctionDefinition;
  recent: ExecutionSummary[];
  problem?: string;
  fields?: FieldProblem[];
}) {
  const { fn } = props;
  const env = Object.entries(fn.env);
  return (
    <Layout title={`Function ${fn.name}`} viewer={props.viewer}>
      <dl class="record">
        <dt>Id</dt>
        <dd>{fn.functionId}</dd>
        <dt>Image</dt>
        <dd>{fn.image}</dd>
        <dt>Digest</dt>
        <dd>{fn.imageDigest ?? 'not pinned (made before digests)'}</dd>
        <dt>Command</dt>
        <dd>{fn.command === null ? "the image's own" : fn.command.join(' ')}</dd>
        <dt>Environment</dt>
        <dd>{env.length === 0 ? 'none' : env.map(([name, value]) => `${name}=${value}`).join(', ')}</dd>
        <dt>Secrets</dt>
        <dd>{Object.keys(fn.secrets ?? {}).length === 0 ? 'none' : Object.entries(fn.secrets ?? {}).map(([variable, name]) => `${variable} ← ${name}`).join(', ')}</dd>
        <dt>Timeout</dt>
        <dd>{fn.timeoutMs} ms</dd>
        <dt>Memory</dt>
        <dd>{fn.memoryMb} MB</dd>
        <dt>Version</dt>
        <dd>{versionOf(fn)}</dd>
      </dl>
      <Problems message={props.problem} fields={props.fields} />

      <h2 id="invoke">Invoke</h2>
      <form class="stacked" method="post" action={`/console/functions/${fn.functionId}/invoke`} enctype="multipart/form-data" aria-labelledby="invoke">
        <label>
          Input <span class="hint">the function's stdin</span>
          <textarea name="stdin"></textarea>
        </label>
        <label>
          Or a file as its input
          <input name="file" type="file" />
        </label>
        <div>
          <button type="submit">Invoke</button>
        </div>
      </form>

      <h2 id="update">New version</h2>
      <form class="stacked" method="post" action={`/console/functions/${fn.functionId}/update`} aria-labelledby="update">
        <input type="hidden" name="version" value={String(versionOf(fn))} />
        <label>
          Image <span class="hint">the same tag again deploys what it names now</span>
          <input name="image" required value={fn.image} />
        </label>
        <label>
          Environment <span class="hint">NAME=value, one per line: replaces the whole set</span>
          <textarea name="env">{env.map(([name, value]) => `${name}=${value}`).join('\n')}</textarea>
        </label>
        <div>
          <button type="submit">Save as a new version</button>
        </div>
      </form>

      <h2>Recent executions</h2>
      <ExecutionTable executions={props.recent} />
      <p>
        <a href={`/console/executions?function=${fn.functionId}`}>All of its executions</a>
      </p>

      <h2 id="delete">Delete</h2>
      <form method="post" action={`/console/functions/${fn.functionId}/delete`} aria-labelledby="delete">
        <button type="submit" class="danger">
          Delete {fn.name}
        </button>
      </form>
    </Layout>
  );
}

export function ExecutionTable(props: { executions: ExecutionSummary[]; names?: Map<string, string> }) {
  if (props.executions.length === 0) return <p>None.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Execution</th>
          {props.names ? <th scope="col">Function</th> : null}
          <th scope="col">Status</th>
          <th scope="col">Exit code</th>
          <th scope="col">Duration</th>
          <th scope="col">Queued</th>
        </tr>
      </thead>
      <tbody>
        {props.executions.map((execution) => (
          <tr>
            <td>
              <a href={`/console/executions/${execution.executionId}`}>{execution.executionId.slice(0, 8)}</a>
            </td>
            {props.names ? <td>{props.names.get(execution.functionId) ?? execution.functionId.slice(0, 8)}</td> : null}
            <td class={`status-${execution.status}`}>{execution.status}</td>
            <td>{execution.exitCode ?? ''}</td>
            <td>{execution.durationMs === null ? '' : `${execution.durationMs} ms`}</td>
            <td>
              <time datetime={execution.queuedAt}>{execution.queuedAt}</time>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function HistoryPage(props: {
  viewer: Viewer;
  executions: ExecutionSummary[];
  names: Map<string, string>;
  filter: { status?: string | undefined; functionId?: string | undefined };
  next: string | null;
}) {
  const query = (extra: Record<string, string>) =>
    new URLSearchParams({ ...(props.filter.status ? { status: props.filter.status } : {}), ...(props.filter.functionId ? { function: props.filter.functionId } : {}), ...extra }).toString();
  return (
    <Layout title="Executions" viewer={props.viewer}>
      <form class="inline" method="get" action="/console/executions" aria-label="Filter">
        <label>
          Status
          <select name="status">
            <option value="">any</option>
            {EXECUTION_STATUSES.map((status) => (
              <option value={status} selected={props.filter.status === status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Function
          <select name="function">
            <option value="">any</option>
            {[...props.names].map(([id, name]) => (
              <option value={id} selected={props.filter.functionId === id}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ExecutionTable executions={props.executions} names={props.names} />
      <nav class="pager" aria-label="Pages">
        <a href={`/console/executions?${query({})}`}>Newest</a>
        {props.next ? <a href={`/console/executions?${query({ before: props.next })}`}>Older</a> : null}
      </nav>
    </Layout>
  );
}

const START_WORDS = { cold: 'a new container (cold)', prestarted: 'a pre-started container', reused: 'a reused container' } as const;

/**
 * An execution's state and, once it ended, its result. Until then it asks again every second
 * (htmx replaces it with the next answer), so the page follows the run; a final state stops asking.
 */
export function LiveExecution(props: { record: ExecutionView }) {
  const { record } = props;
  const live = !isTerminal(record.status);
  return (
    <section
      id="live"
      aria-live="polite"
      {...(live ? { 'hx-get': `/console/executions/${record.executionId}/live`, 'hx-trigger': 'every 1s', 'hx-swap': 'outerHTML' } : {})}
    >
      <dl class="record">
        <dt>Status</dt>
        <dd class={`status-${record.status}`}>{record.status}</dd>
        <dt>Exit code</dt>
        <dd>{record.exitCode ?? '–'}</dd>
        <dt>Duration</dt>
        <dd>{record.durationMs === null ? '–' : `${record.durationMs} ms`}</dd>
        <dt>Ran in</dt>
        <dd>{record.start ? START_WORDS[record.start] : '–'}</dd>
        <dt>Output truncated</dt>
        <dd>{record.truncated ? 'yes' : 'no'}</dd>
        {record.reason ? (
          <>
            <dt>Reason</dt>
            <dd>{record.reason}</dd>
          </>
        ) : null}
      </dl>
      <h2>stdout</h2>
      <pre tabindex={0}>{record.stdout}</pre>
      <h2>stderr</h2>
      <pre tabindex={0}>{record.stderr}</pre>
    </section>
  );
}

export function ExecutionPage(props: { viewer: Viewer; record: ExecutionView; functionName: string; events: AuditEntry[] }) {
  const { record } = props;
  return (
    <Layout title={`Execution ${record.executionId.slice(0, 8)}`} viewer={props.viewer}>
      <dl class="record">
        <dt>Id</dt>
        <dd>{record.executionId}</dd>
        <dt>Function</dt>
        <dd>
          <a href={`/console/functions/${record.functionId}`}>{props.functionName}</a> (version {record.functionVersion})
        </dd>
        <dt>Queued</dt>
        <dd>
          <time datetime={record.queuedAt}>{record.queuedAt}</time>
        </dd>
        <dt>Attempt</dt>
        <dd>{record.attempt}</dd>
      </dl>
      <LiveExecution record={record} />
      <h2>Events</h2>
      <EventsTable entries={props.events} />
    </Layout>
  );
}

export function ErrorPage(props: { viewer?: Viewer | undefined; title: string; message: string }) {
  return (
    <Layout title={props.title} viewer={props.viewer}>
      <p role="alert">{props.message}</p>
      <p>
        <a href="/console">Back to the console</a>
      </p>
    </Layout>
  );
}
