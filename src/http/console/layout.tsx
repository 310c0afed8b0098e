import type { Child } from 'hono/jsx';
import type { AuditEntry } from '../../../projections/audit.ts';
import type { Principal } from '../../queries/principal.ts';

/** What every page shows in its header: who is signed in, and whether they may see the operator pages. */
export type Viewer = Principal & { operator: boolean };

/**
 * The page around every console view. The head loads only files of our own origin (the CSP says
 * so); htmx reads its settings from the meta tag: no indicator <style> of its own (the CSP forbids
 * inline styles), no eval.
 */
export function Layout(props: { title: string; viewer?: Viewer | undefined; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true}' />
        <title>{`${props.title} · Faasbox`}</title>
        {/* No favicon to fetch: a browser would otherwise ask for /favicon.ico and log its 404. */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/console/assets/console.css" />
        <link rel="stylesheet" href="/console/assets/uPlot.min.css" />
        <script src="/console/assets/htmx.min.js" defer></script>
        <script src="/console/assets/uPlot.iife.min.js" defer></script>
        <script src="/console/assets/console.js" defer></script>
      </head>
      <body>
        <header>
          <a class="brand" href="/console">
            Faasbox
          </a>
          {props.viewer ? (
            <>
              <nav aria-label="Console">
                <a href="/console/functions">Functions</a>
                <a href="/console/executions">Executions</a>
                {props.viewer.operator ? <a href="/console/admin">Operator</a> : null}
              </nav>
              <span>{props.viewer.email}</span>
              <form method="post" action="/console/sign-out">
                <button type="submit" class="secondary">
                  Sign out
                </button>
              </form>
            </>
          ) : null}
        </header>
        <main>
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** A refusal shown where the form was: what went wrong, and each field's problem. */
export function Problems(props: { message?: string | undefined; fields?: { field: string; message: string }[] | undefined }) {
  if (!props.message && !props.fields?.length) return null;
  return (
    <div class="error" role="alert">
      {props.message ? <p>{props.message}</p> : null}
      {props.fields?.length ? (
        <ul>
          {props.fields.map((each) => (
            <li>
              <strong>{each.field}</strong>: {each.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A stream's events as the audit gives them (secrets masked); `withRequest`: the request that caused each. */
export function EventsTable(props: { entries: AuditEntry[]; withRequest?: boolean }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Type</th>
          <th scope="col">Recorded</th>
          {props.withRequest ? <th scope="col">Request</th> : null}
          <th scope="col">Data (secrets masked)</th>
        </tr>
      </thead>
      <tbody>
        {props.entries.map((entry) => (
          <tr>
            <td>{entry.revision}</td>
            <td>{entry.type}</td>
            <td>
              <time datetime={entry.recordedAt}>{entry.recordedAt}</time>
            </td>
            {props.withRequest ? <td>{entry.correlationId}</td> : null}
            <td>
              <pre tabindex={0}>{JSON.stringify(entry.data, null, 1)}</pre>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
