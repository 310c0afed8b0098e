import type { OpenAPIHono } from '@hono/zod-openapi';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import type { JSX } from 'hono/jsx/jsx-runtime';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { auditStream } from '../../../projections/audit.ts';
import { endConsoleSession, startConsoleSession } from '../../commands/console-sessions.ts';
import { registerUser } from '../../commands/register-user.ts';
import { createFunction } from '../../commands/create-function.ts';
import { deleteFunction } from '../../commands/delete-function.ts';
import { withOpenEnv } from '../../commands/function-env.ts';
import { submitExecution } from '../../commands/submit-execution.ts';
import { updateFunction } from '../../commands/update-function.ts';
import { DomainError } from '../../domain/errors.ts';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../domain/execution-outcome.ts';
import { UUID } from '../../domain/ids.ts';
import { executionStream } from '../../domain/streams.ts';
import { executionRecord } from '../../queries/execution-view.ts';
import { ownedExecution } from '../../queries/executions.ts';
import { functionsOf, ownedFunction } from '../../queries/functions.ts';
import { activeExecutions, isOperator } from '../../queries/operators.ts';
import { listWorkers } from '../../queries/workers.ts';
import { STREAM_NAME } from '../routes/admin.ts';
import { specOfInput } from '../routes/functions.ts';
import { AuditPage, OperatorPage } from './admin-pages.tsx';
import type { AppDeps } from '../deps.ts';
import { DOMAIN_STATUS } from '../domain-status.ts';
import type { AppEnv, ClientAddressOf } from '../env.ts';
import { CredentialsSchema, functionSchemas } from '../schemas.ts';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.ts';
import type { Viewer } from './layout.tsx';
import { type OverHttps, clearSessionCookie, requireSession, sessionSecretOf, setSessionCookie } from './session.ts';
import { ErrorPage, ExecutionPage, type FieldProblem, type FunctionForm, FunctionPage, FunctionsPage, HistoryPage, LiveExecution, SignInPage, SignUpPage } from './user-pages.tsx';

export type ConsoleOptions = {
  overHttps: OverHttps;
  clientAddressOf: ClientAddressOf;
  readPackageFile: (packageName: string, file: string) => Promise<Uint8Array<ArrayBuffer>>;
  reportError?: ((error: unknown, correlationId: string) => void) | undefined;
};

/** Executions a history page shows at once. */
const PAGE = 50;
/** Events the audit page shows of a stream. */
const AUDIT_PAGE = 500;

/**
 * Only what the pages need from our own origin: no inline script or style anywhere, no frame,
 * forms that post only here.
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

/** Files the pages load, and where they come from: our own, or an installed package's. */
const ASSETS: Record<string, { type: string; body: (options: ConsoleOptions) => Promise<string | Uint8Array<ArrayBuffer>> }> = {
  'console.css': { type: 'text/css; charset=utf-8', body: async () => CONSOLE_CSS },
  'console.js': { type: 'text/javascript; charset=utf-8', body: async () => CONSOLE_JS },
  'htmx.min.js': { type: 'text/javascript; charset=utf-8', body: (options) => options.readPackageFile('htmx.org', 'dist/htmx.min.js') },
  'uPlot.iife.min.js': { type: 'text/javascript; charset=utf-8', body: (options) => options.readPackageFile('uplot', 'dist/uPlot.iife.min.js') },
  'uPlot.min.css': { type: 'text/css; charset=utf-8', body: (options) => options.readPackageFile('uplot', 'dist/uPlot.min.css') },
};

/**
 * The web console at /console: server-rendered pages over the same commands and queries as the
 * API, signed in with a session cookie (session.ts) instead of a bearer token.
 */
export function addConsoleRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, options: ConsoleOptions) {
  const web = new Hono<AppEnv>();
  const { FunctionInputSchema, FunctionChangesSchema } = functionSchemas(deps.config.functionLimits, deps.config.allowedRegistries);

  web.use('*', secureHeaders({ contentSecurityPolicy: CONTENT_SECURITY_POLICY, referrerPolicy: 'same-origin' }));
  // A form posted from another site is refused: its Origin names another host, and the browser
  // says cross-site. The Host header, not the URL the app sees, is what a proxy passes on.
  web.use('*', csrf({ origin: (origin, c) => originHost(origin) === (c.req.header('host') ?? new URL(c.req.url).host) }));
  web.use(
    '*',
    bodyLimit({
      maxSize: deps.config.bodyLimitBytes,
      onError: (c) => page(c as Context<AppEnv>, <ErrorPage title="Too large" message={`A form may send at most ${deps.config.bodyLimitBytes} bytes.`} />, 413),
    }),
  );

  const assetCache = new Map<string, Promise<string | Uint8Array<ArrayBuffer>>>();
  web.get('/assets/:file', async (c) => {
    const asset = ASSETS[c.req.param('file')];
    if (!asset) return c.notFound();
    let body = assetCache.get(c.req.param('file'));
    if (!body) assetCache.set(c.req.param('file'), (body = asset.body(options)));
    return c.body(await body, 200, { 'content-type': asset.type, 'cache-control': 'public, max-age=3600' });
  });

  web.get('/sign-in', (c) => page(c, <SignInPage />));
  web.post('/sign-in', async (c) => {
    const form = await c.req.parseBody();
    const email = text(form.email).trim();
    try {
      const session = await startConsoleSession(deps, { email, password: text(form.password), clientAddress: options.clientAddressOf(c) }, c.get('requestId'));
      setSessionCookie(c, options.overHttps, session.secret, session.expiresAt);
      return c.redirect('/console/functions', 303);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error.retryAfterSeconds !== undefined) c.header('retry-after', String(error.retryAfterSeconds));
      return page(c, <SignInPage email={email} problem={error.message} />, refusalStatus(error));
    }
  });

  web.get('/sign-up', (c) => page(c, <SignUpPage />));
  web.post('/sign-up', async (c) => {
    const form = textFields(await c.req.parseBody());
    const email = (form.email ?? '').trim();
    if (form.password !== form.confirm) return page(c, <SignUpPage email={email} problem="The two passwords differ." />, 400);
    // The API's own rules for an email and a password (CredentialsSchema), in the API's words.
    const parsed = CredentialsSchema.safeParse({ email, password: form.password ?? '' });
    if (!parsed.success) return page(c, <SignUpPage email={email} fields={fieldProblems(parsed.error.issues)} />, 400);
    try {
      await registerUser(deps, parsed.data, c.get('requestId'));
      const session = await startConsoleSession(deps, { ...parsed.data, clientAddress: options.clientAddressOf(c) }, c.get('requestId'));
      setSessionCookie(c, options.overHttps, session.secret, session.expiresAt);
      return c.redirect('/console/functions', 303);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return page(c, <SignUpPage email={email} problem={error.message} />, refusalStatus(error));
    }
  });

  const signedIn = requireSession(deps, options.overHttps);
  // Read once per request: the header asks on every page, the operator pages' guard too.
  const viewers = new WeakMap<Context<AppEnv>, Promise<Viewer>>();
  const viewerOf = (c: Context<AppEnv>): Promise<Viewer> => {
    let viewer = viewers.get(c);
    if (!viewer) viewers.set(c, (viewer = isOperator(deps, c.get('principal').userId).then((operator) => ({ ...c.get('principal'), operator }))));
    return viewer;
  };

  web.post('/sign-out', signedIn, async (c) => {
    await endConsoleSession(deps, sessionSecretOf(c, options.overHttps)!, c.get('requestId'));
    clearSessionCookie(c, options.overHttps);
    return c.redirect('/console/sign-in', 303);
  });

  web.get('/', signedIn, (c) => c.redirect('/console/functions', 303));

  const functionsPage = async (c: Context<AppEnv>, extra: { form?: FunctionForm; problem?: string; fields?: FieldProblem[] } = {}, status: ContentfulStatusCode = 200) =>
    page(c, <FunctionsPage viewer={await viewerOf(c)} functions={functionsOf(deps, c.get('principal').userId)} {...extra} />, status);

  web.get('/functions', signedIn, (c) => functionsPage(c));

  web.post('/functions', signedIn, async (c) => {
    const form = textFields(await c.req.parseBody()) as FunctionForm;
    const input = {
      name: form.name?.trim(),
      image: form.image?.trim(),
      ...(lines(form.command).length > 0 ? { command: lines(form.command) } : {}),
      env: envOf(form.env),
      ...numberField('timeoutMs', form.timeoutMs),
      ...numberField('memoryMb', form.memoryMb),
      ...numberField('minWarm', form.minWarm),
    };
    const parsed = FunctionInputSchema.safeParse(input);
    if (!parsed.success) return functionsPage(c, { form, fields: fieldProblems(parsed.error.issues) }, 400);
    try {
      const definition = await createFunction(deps, c.get('principal').userId, specOfInput(parsed.data, deps.config.functionLimits), c.get('requestId'));
      return c.redirect(`/console/functions/${definition.functionId}`, 303);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return functionsPage(c, { form, problem: error.message }, refusalStatus(error));
    }
  });

  const functionPage = async (c: Context<AppEnv>, extra: { problem?: string; fields?: FieldProblem[] } = {}, status: ContentfulStatusCode = 200) => {
    const userId = c.get('principal').userId;
    const [fn] = await withOpenEnv(deps.keys, [await ownedFunction(deps, c.req.param('id')!, userId)]);
    const recent = deps.projections.executions.listByOwner(userId, { functionId: fn!.functionId }, 10);
    return page(c, <FunctionPage viewer={await viewerOf(c)} fn={fn!} recent={recent} {...extra} />, status);
  };

  web.get('/functions/:id', signedIn, (c) => functionPage(c));

  web.post('/functions/:id/invoke', signedIn, async (c) => {
    const definition = await ownedFunction(deps, c.req.param('id'), c.get('principal').userId);
    const form = await c.req.parseBody();
    const file = form.file;
    const stdin = file instanceof File && file.size > 0 ? new Uint8Array(await file.arrayBuffer()) : new TextEncoder().encode(text(form.stdin));
    try {
      const started = await submitExecution(deps, definition, stdin, { wait: false, correlationId: c.get('requestId') });
      return c.redirect(`/console/executions/${started.executionId}`, 303);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code === 'FunctionNotFound' || error.code === 'NotFunctionOwner') throw error;
      return functionPage(c, { problem: error.message }, refusalStatus(error));
    }
  });

  web.post('/functions/:id/update', signedIn, async (c) => {
    const form = textFields(await c.req.parseBody());
    const parsed = FunctionChangesSchema.safeParse({ image: form.image?.trim(), env: envOf(form.env) });
    if (!parsed.success) return functionPage(c, { fields: fieldProblems(parsed.error.issues) }, 400);
    const version = Number(form.version);
    try {
      const definition = await updateFunction(deps, c.get('principal').userId, idOf(c), { image: parsed.data.image, env: parsed.data.env }, Number.isInteger(version) ? version : null, c.get('requestId'));
      return c.redirect(`/console/functions/${definition.functionId}`, 303);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code === 'FunctionNotFound' || error.code === 'NotFunctionOwner') throw error;
      return functionPage(c, { problem: error.message }, refusalStatus(error));
    }
  });

  web.post('/functions/:id/delete', signedIn, async (c) => {
    await deleteFunction(deps, c.get('principal').userId, idOf(c), c.get('requestId'));
    return c.redirect('/console/functions', 303);
  });

  web.get('/executions', signedIn, async (c) => {
    const userId = c.get('principal').userId;
    const status = EXECUTION_STATUSES.find((each) => each === c.req.query('status'));
    const functionId = UUID.test(c.req.query('function') ?? '') ? c.req.query('function')!.toLowerCase() : undefined;
    const before = UUID.test(c.req.query('before') ?? '') ? c.req.query('before')!.toLowerCase() : undefined;
    const executions = deps.projections.executions.listByOwner(userId, { status: status as ExecutionStatus | undefined, functionId, before }, PAGE);
    const names = new Map(functionsOf(deps, userId).map((fn) => [fn.functionId, fn.name]));
    const next = executions.length === PAGE ? executions.at(-1)!.executionId : null;
    return page(c, <HistoryPage viewer={await viewerOf(c)} executions={executions} names={names} filter={{ status, functionId }} next={next} />);
  });

  web.get('/executions/:id', signedIn, async (c) => {
    const state = await ownedExecution(deps, c.req.param('id'), c.get('principal').userId);
    const record = await executionRecord(deps, state);
    const { entries } = await auditStream(deps.store, executionStream(record.executionId));
    const functionName = deps.projections.functions.get(record.functionId)?.name ?? record.functionId;
    return page(c, <ExecutionPage viewer={await viewerOf(c)} record={record} functionName={functionName} events={entries} />);
  });

  web.get('/executions/:id/live', signedIn, async (c) => {
    const state = await ownedExecution(deps, c.req.param('id'), c.get('principal').userId);
    return c.html(String(<LiveExecution record={await executionRecord(deps, state)} />));
  });

  // Operators only: anyone else signed in gets 403, as the admin routes answer.
  const operatorsOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
    const viewer = await viewerOf(c);
    if (!viewer.operator) return page(c, <ErrorPage viewer={viewer} title="Operators only" message="This page needs an operator account." />, 403);
    await next();
  };

  web.get('/admin', signedIn, operatorsOnly, async (c) => {
    const limits = { perUser: deps.config.executions.maxActivePerUser, platform: deps.config.executions.maxActive };
    const { byStatus } = deps.projections.executions.active();
    // A bus that cannot answer leaves the rest of the page worth reading.
    const workers = await listWorkers(deps).catch((error: unknown) => {
      if (error instanceof DomainError && error.code === 'JobBusUnavailable') return null;
      throw error;
    });
    const functionNames = new Map(
      [...new Set((workers ?? []).flatMap((worker) => [...Object.keys(worker.prestarted), ...Object.keys(worker.reused)]))].map((id) => [
        id,
        deps.projections.functions.get(id)?.name ?? id.slice(0, 8),
      ]),
    );
    return page(
      c,
      <OperatorPage
        viewer={await viewerOf(c)}
        active={activeExecutions(deps)}
        byStatus={byStatus}
        limits={limits}
        sampleSeconds={deps.metricsHistory.intervalSeconds}
        workers={workers}
        functionNames={functionNames}
      />,
    );
  });

  // The charts' data (console.js draws it): what GET /v1/admin/metrics/history answers, for the last hour.
  web.get('/admin/metrics.json', signedIn, operatorsOnly, (c) => {
    const { metricsHistory, clock } = deps;
    c.header('cache-control', 'no-store');
    return c.json({ intervalSeconds: metricsHistory.intervalSeconds, points: metricsHistory.since(new Date(clock.now().getTime() - 3_600_000)) });
  });

  web.get('/admin/audit', signedIn, operatorsOnly, async (c) => {
    const stream = (c.req.query('stream') ?? '').trim();
    const viewer = await viewerOf(c);
    if (!STREAM_NAME.test(stream)) return page(c, <AuditPage viewer={viewer} stream={stream} entries={[]} problem="That names no stream: user-…, function-…, execution-…" />, 400);
    const { entries } = await auditStream(deps.store, stream, { limit: AUDIT_PAGE });
    if (entries.length === 0) return page(c, <AuditPage viewer={viewer} stream={stream} entries={[]} problem={`There is no stream named ${stream}.`} />, 404);
    return page(c, <AuditPage viewer={viewer} stream={stream} entries={entries} />);
  });

  web.onError(async (error, c) => {
    // The CSRF check's refusal, and any other the middleware answer with.
    if (error instanceof HTTPException) return page(c, <ErrorPage title="Refused" message={error.status === 403 ? 'This form was not sent from the console.' : error.message} />, error.status as ContentfulStatusCode);
    if (error instanceof DomainError) {
      return page(c, <ErrorPage title="Not possible" message={error.message} />, refusalStatus(error));
    }
    options.reportError?.(error, c.get('requestId'));
    return page(c, <ErrorPage title="Something went wrong" message={`The console could not answer; quote ${c.get('requestId')} when you report it.`} />, 500);
  });
  web.notFound((c) => page(c, <ErrorPage title="Not found" message="There is no such page." />, 404));

  app.route('/console', web);
}

/** A whole page: pages are never cached (they show one user's data). */
async function page(c: Context<AppEnv>, node: JSX.Element, status: ContentfulStatusCode = 200) {
  c.header('cache-control', 'no-store');
  return c.html(`<!doctype html>${await node.toString()}`, status);
}

const refusalStatus = (error: DomainError) => DOMAIN_STATUS[error.code].status;

const idOf = (c: Context<AppEnv>) => {
  const id = c.req.param('id') ?? '';
  if (!UUID.test(id)) throw new DomainError('FunctionNotFound', 'no such function');
  return id.toLowerCase();
};

const originHost = (origin: string) => {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
};

const text = (value: unknown) => (typeof value === 'string' ? value : '');

/** The form's text fields (a file field is no text). */
const textFields = (form: Record<string, unknown>): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(form).map(([name, value]) => [name, typeof value === 'string' ? value : undefined]));

const lines = (value: string | undefined) => (value ?? '').split(/\r?\n/).filter((line) => line.trim() !== '');

/** `NAME=value` lines as an environment; a line without `=` keeps its name with an empty value, for the schema to judge. */
const envOf = (value: string | undefined) =>
  Object.fromEntries(
    lines(value).map((line) => {
      const equals = line.indexOf('=');
      return equals < 0 ? [line.trim(), ''] : [line.slice(0, equals).trim(), line.slice(equals + 1)];
    }),
  );

/** A number field as the schema takes it: absent when empty, else the number typed (the schema judges it). */
const numberField = (name: string, value: string | undefined) => (value === undefined || value.trim() === '' ? {} : { [name]: Number(value.trim()) });

const fieldProblems = (issues: { path: PropertyKey[]; message: string }[]): FieldProblem[] =>
  issues.map((issue) => ({ field: issue.path.map(String).join('.') || 'form', message: issue.message }));
