import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { createFunction } from '../../commands/create-function.ts';
import { deleteFunction } from '../../commands/delete-function.ts';
import { rollbackFunction, updateFunction } from '../../commands/update-function.ts';
import { DomainError } from '../../domain/errors.ts';
import { type FunctionChanges, type FunctionDefinition, type FunctionSpec, minWarmOf, reuseOf, versionOf } from '../../domain/functions.ts';
import { UUID } from '../../domain/ids.ts';
import { retryPolicyOf } from '../../domain/retries.ts';
import { withOpenEnv } from '../../commands/function-env.ts';
import { functionVersions, functionsOf, ownedFunction } from '../../queries/functions.ts';
import type { AppDeps } from '../deps.ts';
import type { Authenticated } from '../middleware/authenticate.ts';
import { rejectPrototypeKeys } from '../middleware/reject-prototype-keys.ts';
import type { AppEnv } from '../env.ts';
import { DeletedSchema, IdParamSchema, functionSchemas, internalError, jsonBodyRefusals, locationHeader, problem, retryLater, unauthorized } from '../schemas.ts';

export const functionView = (definition: FunctionDefinition) => ({
  id: definition.functionId,
  name: definition.name,
  image: definition.image,
  imageDigest: definition.imageDigest ?? null,
  command: definition.command,
  env: definition.env,
  secrets: definition.secrets ?? {},
  timeoutMs: definition.timeoutMs,
  memoryMb: definition.memoryMb,
  minWarm: minWarmOf(definition),
  reuse: reuseOf(definition),
  retry: definition.retry ?? null,
  createdAt: definition.createdAt,
  version: versionOf(definition),
  versionCreatedAt: definition.versionCreatedAt ?? definition.createdAt,
  rolledBackFrom: definition.rolledBackFrom ?? null,
});

/** Definitions as their owner reads them: the environment decrypted. */
const viewsOf = async (deps: AppDeps, definitions: FunctionDefinition[]) => (await withOpenEnv(deps.keys, definitions)).map(functionView);
const viewOf = async (deps: AppDeps, definition: FunctionDefinition) => (await viewsOf(deps, [definition]))[0]!;

/** A new function as a validated create request (the API's JSON, the console's form) describes it, with the platform's defaults. */
export function specOfInput(
  input: z.infer<ReturnType<typeof functionSchemas>['FunctionInputSchema']>,
  limits: AppDeps['config']['functionLimits'],
): Omit<FunctionSpec, 'imageDigest'> {
  return {
    name: input.name,
    image: input.image,
    command: input.command ?? null,
    env: input.env ?? {},
    ...(input.secrets && Object.keys(input.secrets).length > 0 ? { secrets: input.secrets } : {}),
    timeoutMs: input.timeoutMs ?? limits.defaultTimeoutMs,
    memoryMb: input.memoryMb ?? limits.defaultMemoryMb,
    minWarm: input.minWarm ?? 0,
    reuse: input.reuse ?? false,
    ...(input.retry ? { retry: retryPolicyOf(input.retry) } : {}),
  };
}

/** The fields a PATCH gave, as the domain takes them (a retry policy with its defaults filled in). */
function changesOf(input: Omit<FunctionChanges, 'retry'> & { retry?: Parameters<typeof retryPolicyOf>[0] }): FunctionChanges {
  const { retry, ...rest } = input;
  return { ...rest, ...(retry ? { retry: retryPolicyOf(retry) } : {}) };
}

/**
 * The function a path names, for a command that decides existence and ownership from the stream
 * itself: an id that is no UUID names none (not worth a 400).
 */
function functionIdOf(id: string): string {
  if (!UUID.test(id)) throw new DomainError('FunctionNotFound', 'no such function');
  return id.toLowerCase();
}

/** A version's entity tag: strong, since a version never changes. */
const etagOf = (definition: FunctionDefinition) => `"${versionOf(definition)}"`;

/**
 * The version an If-Match names: null for none or `*` (any current version); a tag that is no
 * version of ours can match none (-1: refused as a failed precondition).
 */
function ifMatchVersion(header: string | undefined): number | null {
  if (header === undefined || header.trim() === '*') return null;
  const match = /^\s*"(\d{1,9})"\s*$/.exec(header);
  return match ? Number(match[1]) : -1;
}

/** The image's registry could not be asked which digest it names: nothing was changed. */
const registryUnavailable = retryLater("The image's registry could not be reached or answered nonsense (`registry-unavailable`): nothing was recorded; try again later");

const ETagHeader = z.object({ ETag: z.string().openapi({ description: 'The current version, `"<version>"`: send it as If-Match to change exactly that version' }) });
const IfMatchHeader = z.object({
  'if-match': z.string().optional().openapi({ description: 'Change only if this is still the current version (its ETag, `"<version>"`); else 412', example: '"3"' }),
});

export function addFunctionRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, authenticated: Authenticated) {
  const { FunctionInputSchema, FunctionSchema, FunctionListSchema, FunctionChangesSchema, VersionListSchema } = functionSchemas(
    deps.config.functionLimits,
    deps.config.allowedRegistries,
  );

  const create = createRoute({
    method: 'post',
    path: '/v1/functions',
    operationId: 'createFunction',
    tags: ['functions'],
    summary: 'Register a function: a container image and how to run it',
    security: [{ bearerAuth: [] }],
    middleware: [...authenticated, rejectPrototypeKeys()],
    request: { body: { required: true, content: { 'application/json': { schema: FunctionInputSchema } } } },
    responses: {
      201: {
        description: 'Created',
        headers: locationHeader('`/v1/functions/{id}` of the new function'),
        content: { 'application/json': { schema: FunctionSchema } },
      },
      400: problem('Invalid field (named in the answer), an image from a registry not allowed or not in its registry (`image-not-found`), or malformed JSON'),
      401: unauthorized,
      ...jsonBodyRefusals,
      500: internalError,
      503: registryUnavailable,
    },
  });
  app.openapi(create, async (c) => {
    const definition = await createFunction(deps, c.get('principal').userId, specOfInput(c.req.valid('json'), deps.config.functionLimits), c.get('requestId'));
    c.header('location', `/v1/functions/${definition.functionId}`);
    c.header('etag', etagOf(definition));
    return c.json(await viewOf(deps, definition), 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/v1/functions',
    operationId: 'listFunctions',
    tags: ['functions'],
    summary: "The caller's functions, newest first",
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    responses: {
      200: { description: 'Functions', content: { 'application/json': { schema: FunctionListSchema } } },
      401: unauthorized,
      500: internalError,
    },
  });
  app.openapi(list, async (c) => {
    const functions = await viewsOf(deps, functionsOf(deps, c.get('principal').userId));
    return c.json({ functions }, 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/v1/functions/{id}',
    operationId: 'getFunction',
    tags: ['functions'],
    summary: 'One function',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: { params: IdParamSchema },
    responses: {
      200: { description: 'The function, as its current version has it', headers: ETagHeader, content: { 'application/json': { schema: FunctionSchema } } },
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function (also for an id that is no UUID)'),
      500: internalError,
    },
  });
  app.openapi(get, async (c) => {
    const definition = await ownedFunction(deps, c.req.valid('param').id, c.get('principal').userId);
    c.header('etag', etagOf(definition));
    return c.json(await viewOf(deps, definition), 200);
  });

  const versionConflicts = {
    409: problem('Another update made another version current meanwhile (`currentVersion` says which); read it and try again'),
    412: problem('If-Match names a version that is not the current one (`currentVersion` says which)'),
  };

  const update = createRoute({
    method: 'patch',
    path: '/v1/functions/{id}',
    operationId: 'updateFunction',
    tags: ['functions'],
    summary: 'Change a function: a new version, current from now on',
    description:
      'The fields given replace the current version\'s; the result is version N+1 (the same request again changes nothing and makes no version). Naming `image` resolves it to its digest again, even the same tag: that deploys a tag that moved (an unmoved one makes no version). Executions queued from now on run it. Pre-started containers of the old version are dropped.',
    security: [{ bearerAuth: [] }],
    middleware: [...authenticated, rejectPrototypeKeys()],
    request: { params: IdParamSchema, headers: IfMatchHeader, body: { required: true, content: { 'application/json': { schema: FunctionChangesSchema } } } },
    responses: {
      200: { description: 'The function, as its new current version has it', headers: ETagHeader, content: { 'application/json': { schema: FunctionSchema } } },
      400: problem('Invalid field (named in the answer), an image from a registry not allowed or not in its registry (`image-not-found`), or malformed JSON'),
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function'),
      ...versionConflicts,
      ...jsonBodyRefusals,
      500: internalError,
      503: registryUnavailable,
    },
  });
  app.openapi(update, async (c) => {
    const definition = await updateFunction(
      deps,
      c.get('principal').userId,
      functionIdOf(c.req.valid('param').id),
      changesOf(c.req.valid('json')),
      ifMatchVersion(c.req.valid('header')['if-match']),
      c.get('requestId'),
    );
    c.header('etag', etagOf(definition));
    return c.json(await viewOf(deps, definition), 200);
  });

  const versions = createRoute({
    method: 'get',
    path: '/v1/functions/{id}/versions',
    operationId: 'listFunctionVersions',
    tags: ['functions'],
    summary: "A function's versions, oldest first",
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: { params: IdParamSchema },
    responses: {
      200: { description: 'Every version, and which is current', content: { 'application/json': { schema: VersionListSchema } } },
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function'),
      500: internalError,
    },
  });
  app.openapi(versions, async (c) => {
    const all = await functionVersions(deps, c.req.valid('param').id, c.get('principal').userId);
    return c.json({ current: versionOf(all.at(-1)!), versions: await viewsOf(deps, all) }, 200);
  });

  const rollback = createRoute({
    method: 'post',
    path: '/v1/functions/{id}/rollback',
    operationId: 'rollbackFunction',
    tags: ['functions'],
    summary: 'Make an earlier version current again (as a new version that copies it)',
    security: [{ bearerAuth: [] }],
    middleware: [...authenticated, rejectPrototypeKeys()],
    request: {
      params: IdParamSchema,
      headers: IfMatchHeader,
      body: { required: true, content: { 'application/json': { schema: z.strictObject({ version: z.number().int().min(1) }).openapi('Rollback') } } },
    },
    responses: {
      200: { description: 'The function, as its new current version has it', headers: ETagHeader, content: { 'application/json': { schema: FunctionSchema } } },
      400: problem('No version given, or malformed JSON'),
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function, or no such version of it'),
      ...versionConflicts,
      ...jsonBodyRefusals,
      500: internalError,
    },
  });
  app.openapi(rollback, async (c) => {
    const definition = await rollbackFunction(
      deps,
      c.get('principal').userId,
      functionIdOf(c.req.valid('param').id),
      c.req.valid('json').version,
      ifMatchVersion(c.req.valid('header')['if-match']),
      c.get('requestId'),
    );
    c.header('etag', etagOf(definition));
    return c.json(await viewOf(deps, definition), 200);
  });

  const remove = createRoute({
    method: 'delete',
    path: '/v1/functions/{id}',
    operationId: 'deleteFunction',
    tags: ['functions'],
    summary: 'Delete a function',
    security: [{ bearerAuth: [] }],
    middleware: authenticated,
    request: { params: IdParamSchema },
    responses: {
      200: { description: 'Deleted', content: { 'application/json': { schema: DeletedSchema } } },
      401: unauthorized,
      403: problem('The function belongs to another user'),
      404: problem('No such function, or already deleted'),
      500: internalError,
    },
  });
  app.openapi(remove, async (c) => {
    await deleteFunction(deps, c.get('principal').userId, functionIdOf(c.req.valid('param').id), c.get('requestId'));
    return c.json({ deleted: true as const }, 200);
  });
}
