import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { auditStream } from '../../../projections/audit.ts';
import { projectionStatus } from '../../../projections/status.ts';
import { DomainError } from '../../domain/errors.ts';
import { accountsByEmail, activeExecutions, isOperator } from '../../queries/operators.ts';
import { listWorkers } from '../../queries/workers.ts';
import { WORKER_REPORTS_KEPT_MS } from '../../ports/worker-report.ts';
import type { AppDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import { problemResponse } from '../problem.ts';
import { EmailSchema, ExecutionStatusSchema, internalError, problem, retryLater, unauthorized } from '../schemas.ts';

const AuditEntrySchema = z
  .object({
    id: z.string().openapi({ description: "The event's id" }),
    stream: z.string(),
    revision: z.number().int(),
    position: z.number().int(),
    recordedAt: z.string(),
    type: z.string(),
    data: z.unknown().openapi({ description: 'Password hashes and function environment values are masked' }),
    correlationId: z.string(),
    causationId: z.string().optional().openapi({ description: 'The id of the event this one reacts to (a slot released by its execution ending)' }),
  })
  .openapi('AuditEntry');

const AdminExecutionSchema = z
  .object({
    executionId: z.uuid(),
    functionId: z.uuid(),
    ownerId: z.uuid(),
    status: ExecutionStatusSchema,
    queuedAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    deadline: z.string(),
    exitCode: z.number().int().nullable(),
    durationMs: z.number().int().nullable(),
    reason: z.string().nullable(),
  })
  .openapi('AdminExecution');

const AccountSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    createdAt: z.string(),
    deleted: z.boolean(),
    operator: z.boolean().openapi({ description: 'Granted operator rights, as the read model last saw' }),
    functions: z.number().int(),
    activeExecutions: z.number().int(),
  })
  .openapi('Account');

const PhaseFiguresSchema = z
  .object({
    count: z.number().int().openapi({ description: 'Executions whose final status, recorded in the interval, reported this phase' }),
    p50Ms: z.number().nullable().openapi({
      description: "The median, interpolated within its bucket as Prometheus' histogram_quantile does (past the highest bucket, 300 s, it reads 300000); null when count is 0",
    }),
    p95Ms: z.number().nullable().openapi({ description: 'The 95th percentile, the same way; null when count is 0' }),
  })
  .openapi('PhaseFigures');

const MetricsPointSchema = z
  .object({
    at: z.string().openapi({ description: 'When the interval ended (the sample was taken)' }),
    seconds: z.number().openapi({ description: 'How long the interval was: intervalSeconds, unless the sample came late' }),
    executionsPerSecond: z.number().openapi({ description: 'Executions ended per second over the interval: the sum of byOutcome' }),
    byOutcome: z
      .object({ succeeded: z.number(), failed: z.number(), timedOut: z.number() })
      .openapi({ description: 'Executions ended per second, by outcome (faasbox_executions_total)' }),
    phases: z
      .object({
        queue_wait: PhaseFiguresSchema,
        pull: PhaseFiguresSchema,
        create_start: PhaseFiguresSchema,
        take: PhaseFiguresSchema,
        run: PhaseFiguresSchema,
        remove: PhaseFiguresSchema,
      })
      .openapi({
        description: [
          'Per phase of an execution on its worker, over the interval (faasbox_execution_phase_duration_seconds): queue_wait',
          '(from queued to a worker taking the job, clock skew between hosts included), pull (the image made present: a pull',
          'when it is absent), create_start (creating and starting a container: a cold start), take (a pre-started or reused',
          'container instead), run (from the go to the exit), remove (the container removed)',
        ].join(' '),
      }),
    activeExecutions: z
      .object({ queued: z.number().int(), running: z.number().int() })
      .nullable()
      .openapi({ description: 'Executions queued and running at the sample (faasbox_active_executions); null when it could not be read' }),
    jobsWaiting: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Jobs not yet taken by a worker at the sample (faasbox_jobs_waiting); null when the bus did not answer' }),
  })
  .openapi('MetricsPoint');
const count = z.number().int().min(0);

const WorkerSchema = z
  .object({
    workerId: z.string(),
    state: z.enum(['running', 'stopping', 'stopped']).openapi({ description: 'stopping: draining its executions; stopped: its last report' }),
    startedAt: z.string(),
    reportedAt: z.string().openapi({ description: "When the worker made this report, by its own clock" }),
    intervalMs: z.number().int().openapi({ description: 'How often it reports' }),
    stale: z.boolean().openapi({
      description: `The report is older than three intervals: the worker may be gone (a report is dropped ${WORKER_REPORTS_KEPT_MS / 1000} s after it was made)`,
    }),
    concurrency: count.openapi({ description: 'Executions it runs at once at most' }),
    inFlight: count.openapi({ description: 'Executions it runs now' }),
    prestarted: z
      .record(z.string(), z.object({ ready: count, starting: count, minWarm: count }))
      .openapi({ description: 'Pre-started containers by function id: ready for a call, being made, and the owner\'s minWarm' }),
    reused: z
      .record(z.string(), z.object({ idle: count, busy: count }))
      .openapi({ description: 'Containers of functions that reuse them, by function id: idle (clean) and busy (running or being cleaned)' }),
    engineReachable: z.boolean().nullable().openapi({ description: 'Whether its Docker engine answered a ping for this report' }),
    disk: z
      .object({
        usedPercent: z.number().nullable(),
        usedBytes: z.number().int().nullable(),
        totalBytes: z.number().int().nullable(),
        measuredAt: z.string().nullable(),
        highWater: z.number(),
        lowWater: z.number(),
      })
      .nullable()
      .openapi({ description: "The file system of the engine's data root (null figures: not visible from the worker), and the marks between which it prunes images" }),
    lastPrunes: z
      .array(
        z.object({
          at: z.string(),
          reason: z.string(),
          outcome: z.enum(['pruned', 'nothing-pruned', 'failed']).openapi({ description: 'nothing-pruned: no image could be pruned' }),
          imagesRemoved: count,
          images: z.array(z.string()),
          bytesReclaimed: count.openapi({ description: "The removed images' sizes (an upper bound: a shared layer may stay)" }),
          freedBytes: count.nullable().openapi({ description: 'What the file system got back, when the worker can see it' }),
        }),
      )
      .openapi({ description: 'Its last few image prunes, newest first' }),
  })
  .openapi('Worker');

// Stream names are made of ids and prefixes; anything else names no stream.
export const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;

/** Everyone signed in who is no operator (see isOperator) gets 403. */
export const requireOperator =
  (deps: AppDeps): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    if (!(await isOperator(deps, c.get('principal').userId))) return problemResponse(c, 403, 'not-operator', 'this needs an operator account');
    await next();
  };

export function addAdminRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {
  const middleware = [...authenticated, requireOperator(deps)];
  const denied = {
    401: unauthorized,
    403: problem('The caller is not an operator (`faasbox operators grant`)'),
    500: internalError,
  };
  const common = { tags: ['admin'], security: [{ bearerAuth: [] }], middleware };
  const { projections } = deps;

  const projectionsRoute = createRoute({
    ...common,
    method: 'get',
    path: '/v1/admin/projections',
    operationId: 'getProjectionStatus',
    summary: 'Each read model: its checkpoint and how many events it is behind',
    responses: {
      200: {
        description: 'Status',
        content: {
          'application/json': {
            schema: z.object({
              head: z.number().int(),
              projections: z.array(
                z.object({ name: z.string(), version: z.number().int(), checkpoint: z.number().int(), lag: z.number().int() }),
              ),
            }),
          },
        },
      },
      ...denied,
    },
  });
  app.openapi(projectionsRoute, async (c) => c.json(await projectionStatus(deps.store, deps.readModelDatabase, projections.all), 200));

  const activeRoute = createRoute({
    ...common,
    method: 'get',
    path: '/v1/admin/projections/active-executions',
    operationId: 'getActiveExecutions',
    summary: 'Queued and running executions, in total and per user',
    responses: {
      200: {
        description: 'Active executions',
        content: {
          'application/json': {
            schema: z.object({
              total: z.number().int(),
              byUser: z.array(z.object({ userId: z.uuid(), email: z.string().nullable(), active: z.number().int() })),
            }),
          },
        },
      },
      ...denied,
    },
  });
  app.openapi(activeRoute, (c) => c.json(activeExecutions(deps), 200));

  const executionsRoute = createRoute({
    ...common,
    method: 'get',
    path: '/v1/admin/executions',
    operationId: 'listExecutionsByStatus',
    summary: 'Executions of every user in one status, newest first',
    request: {
      query: z.object({
        status: ExecutionStatusSchema.default('running'),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
    },
    responses: {
      200: {
        description: 'Executions',
        content: { 'application/json': { schema: z.object({ executions: z.array(AdminExecutionSchema) }) } },
      },
      400: problem('Invalid status or limit'),
      ...denied,
    },
  });
  app.openapi(executionsRoute, (c) => {
    const { status, limit } = c.req.valid('query');
    return c.json({ executions: projections.executions.listByStatus(status, limit) }, 200);
  });

  const streamRoute = createRoute({
    ...common,
    method: 'get',
    path: '/v1/admin/streams/{name}',
    operationId: 'auditStream',
    summary: "A stream's events in order, secrets masked (audit)",
    request: {
      params: z.object({ name: z.string().openapi({ param: { name: 'name', in: 'path' }, example: 'user-…' }) }),
      query: z.object({
        fromRevision: z.coerce.number().int().min(0).default(0),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
    },
    responses: {
      200: {
        description: 'Events',
        content: {
          'application/json': {
            schema: z.object({
              stream: z.string(),
              events: z.array(AuditEntrySchema),
              nextRevision: z.number().int().nullable().openapi({ description: 'Pass as fromRevision for the next page' }),
            }),
          },
        },
      },
      400: problem('Invalid paging'),
      404: problem('No such stream'),
      ...denied,
    },
  });
  app.openapi(streamRoute, async (c) => {
    const { name } = c.req.valid('param');
    const { fromRevision, limit } = c.req.valid('query');
    const page = STREAM_NAME.test(name) ? await auditStream(deps.store, name, { fromRevision, limit }) : undefined;
    if (page === undefined || (page.entries.length === 0 && fromRevision === 0)) {
      throw new DomainError('StreamNotFound', 'no such stream');
    }
    return c.json({ stream: name, events: page.entries, nextRevision: page.nextRevision }, 200);
  });

  const workersRoute = createRoute({
    ...common,
    method: 'get',
    path: '/v1/admin/workers',
    operationId: 'listWorkers',
    summary: 'Every worker that reported lately: its executions, pre-started containers, disk and last prunes',
    responses: {
      200: {
        description: 'Workers by id',
        content: { 'application/json': { schema: z.object({ workers: z.array(WorkerSchema) }) } },
      },
      503: retryLater('The job bus cannot be asked now'),
      ...denied,
    },
  });
  app.openapi(workersRoute, async (c) => c.json({ workers: await listWorkers(deps) }, 200));

  const userRoute = createRoute({
    ...common,
    method: 'get',
    path: '/v1/admin/users/{email}',
    operationId: 'getAccountsByEmail',
    summary: 'The accounts registered with an email: the live one first, then deleted ones',
    request: { params: z.object({ email: EmailSchema.openapi({ param: { name: 'email', in: 'path' } }) }) },
    responses: {
      200: { description: 'Accounts', content: { 'application/json': { schema: z.object({ accounts: z.array(AccountSchema) }) } } },
      400: problem('Not an email address'),
      404: problem('No account ever had this email'),
      ...denied,
    },
  });
  app.openapi(userRoute, (c) => c.json({ accounts: accountsByEmail(deps, c.req.valid('param').email) }, 200));

  const metricsHistoryRoute = createRoute({
    ...common,
    method: 'get',
    path: '/v1/admin/metrics/history',
    operationId: 'getMetricsHistory',
    summary: 'Executions per second, phase latencies and the queue over the last hour, for charts',
    description: [
      "Points sampled by this api from its own registry every `intervalSeconds`, the figures its `/metrics` exports, kept in memory",
      'for an hour (an api that restarted has less). Counted per interval: rates from the counters, and the median and 95th',
      "percentile of each phase from the histogram's buckets, as Prometheus' `histogram_quantile` would interpolate them.",
      '',
      "With several apis, the executions and phases are this api's share: an execution's ending, with the phases its final",
      'status reports, is counted once in the platform, by the api whose append recorded it (the one where its caller waited,',
      'the one whose status recorder the bus handed the status to, or the one whose deadline sweeper or retry dispatcher ended',
      "it). Sum the apis' points for the platform. activeExecutions and jobsWaiting are the platform's whatever the api: its",
      'read models hold every execution, and the job queue is shared.',
    ].join('\n'),
    request: {
      query: z.object({
        minutes: z.coerce.number().int().min(1).max(60).default(60).openapi({ description: 'How far back, in minutes' }),
      }),
    },
    responses: {
      200: {
        description: 'Points, oldest first',
        content: {
          'application/json': {
            schema: z.object({
              intervalSeconds: z.number().openapi({ description: 'How often this api samples' }),
              points: z.array(MetricsPointSchema),
            }),
          },
        },
      },
      400: problem('minutes is not a whole number from 1 to 60'),
      ...denied,
    },
  });
  app.openapi(metricsHistoryRoute, (c) => {
    const { minutes } = c.req.valid('query');
    const { metricsHistory, clock } = deps;
    const from = new Date(clock.now().getTime() - minutes * 60_000);
    return c.json({ intervalSeconds: metricsHistory.intervalSeconds, points: metricsHistory.since(from) }, 200);
  });
}
