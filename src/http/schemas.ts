import { z } from '@hono/zod-openapi';
import type { Config } from '../config-type.ts';
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES } from '../auth/passwords.ts';
import { EXECUTION_STATUSES } from '../domain/execution-outcome.ts';
import { isImageReference, registryOf } from '../domain/image-reference.ts';
import { DEFAULT_RETRY, MAX_ATTEMPTS_LIMIT } from '../domain/retries.ts';
import { SECRET_NAME } from '../domain/secrets.ts';

const byteLength = (value: string) => new TextEncoder().encode(value).length;

export const EmailSchema = z
  .string()
  .max(254)
  .trim()
  .toLowerCase()
  .pipe(z.email({ message: 'must be a valid email address' }))
  .openapi({ example: 'ada@example.com' });

export const PasswordSchema = z
  .string()
  .refine((password) => byteLength(password) >= MIN_PASSWORD_BYTES, {
    message: `must be at least ${MIN_PASSWORD_BYTES} bytes`,
  })
  .refine((password) => byteLength(password) <= MAX_PASSWORD_BYTES, {
    message: `must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores every byte past the 72nd)`,
  })
  .openapi({ example: 'correct horse battery staple', format: 'password' });

export const CredentialsSchema = z.strictObject({ email: EmailSchema, password: PasswordSchema }).openapi('Credentials');

export const UserSchema = z
  .object({ id: z.uuid(), email: z.string(), createdAt: z.iso.datetime() })
  .openapi('User');

export const TokenSchema = z
  .object({ token: z.string(), expiresAt: z.iso.datetime() })
  .openapi('Token');

export const DeletedSchema = z.object({ deleted: z.literal(true) }).openapi('Deleted');

export const IdParamSchema = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' }),
});

/** Unnamed on purpose: each schema that uses it keeps the list inline, as the OpenAPI document always had it. */
export const ExecutionStatusSchema = z.enum(EXECUTION_STATUSES);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const FUNCTION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
// Keys that JavaScript treats as the object's prototype would be dropped, not stored.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const RetryInputSchema = z
  .strictObject({
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS_LIMIT).openapi({ description: 'Attempts in all, the first included' }),
    backoff: z
      .strictObject({ initialMs: z.number().int().min(0).max(3_600_000), maxMs: z.number().int().min(0).max(3_600_000) })
      .refine((backoff) => backoff.maxMs >= backoff.initialMs, { message: 'maxMs must be at least initialMs' })
      .optional()
      .openapi({ description: `The wait before attempt n+1 is initialMs·2^(n-1), at most maxMs (default ${DEFAULT_RETRY.backoff.initialMs} and ${DEFAULT_RETRY.backoff.maxMs})` }),
    maxAgeSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional()
      .openapi({ description: `No attempt starts once the execution is this old: it is dead-lettered instead (default ${DEFAULT_RETRY.maxAgeSeconds})` }),
    onFunctionError: z
      .boolean()
      .optional()
      .openapi({ description: "Also retry the function's own failures: a non-zero exit, an OOM kill, its timeout (default false)" }),
  })
  .openapi('RetryInput');

const RetrySchema = z
  .object({
    maxAttempts: z.number().int(),
    backoff: z.object({ initialMs: z.number().int(), maxMs: z.number().int() }),
    maxAgeSeconds: z.number().int(),
    onFunctionError: z.boolean(),
  })
  .openapi('Retry');

export const SecretNameSchema = z.string().regex(SECRET_NAME, {
  message: "must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit",
});

/** A secret travels in the agent's go as a NUL-terminated variable: no NUL, and small enough that 64 of them fit the go. */
export const SECRET_VALUE_MAX_BYTES = 16 * 1024;

export const SecretInputSchema = z
  .strictObject({
    value: z
      .string()
      .min(1)
      .refine((value) => new TextEncoder().encode(value).byteLength <= SECRET_VALUE_MAX_BYTES, { message: `must be at most ${SECRET_VALUE_MAX_BYTES} bytes` })
      .refine((value) => !value.includes('\0'), { message: 'must not contain NUL' }),
  })
  .openapi('SecretInput');

export const SecretSchema = z
  .object({
    name: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime().openapi({ description: 'When its value was last set' }),
  })
  .openapi('Secret', { description: 'A secret, never with its value: only functions that take it get that, at each call' });

export const SecretListSchema = z.object({ secrets: z.array(SecretSchema) }).openapi('SecretList');

export function functionSchemas(limits: Config['functionLimits'], allowedRegistries: Config['allowedRegistries']) {
  // The engine contacts whatever registry an image names: an operator may fence that in.
  const allowed = (image: string) => allowedRegistries.size === 0 || allowedRegistries.has(registryOf(image).toLowerCase());
  const FunctionInputSchema = z
    .strictObject({
      name: z.string().regex(FUNCTION_NAME, {
        message: "must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
      }),
      image: z
        .string()
        .max(512)
        .refine(isImageReference, { message: 'must be an image reference such as registry.local:5000/team/app:1.2' })
        .refine(allowed, { message: `must come from an allowed registry: ${[...allowedRegistries].join(', ')}` }),
      command: z
        .array(z.string().max(4096).refine((arg) => !arg.includes('\0'), { message: 'must not contain NUL' }))
        .min(1)
        .max(64)
        .optional(),
      env: z
        .record(
          z
            .string()
            .regex(ENV_NAME, { message: 'names must be letters, digits and _, not starting with a digit' })
            .refine((key) => !FORBIDDEN_KEYS.has(key), { message: 'is a reserved name' }),
          z
            .string()
            .max(32 * 1024)
            .refine((value) => !value.includes('\0'), { message: 'must not contain NUL' }),
        )
        .refine((env) => Object.keys(env).length <= 128, { message: 'must have at most 128 variables' })
        .optional(),
      secrets: z
        .record(
          z
            .string()
            .regex(ENV_NAME, { message: 'names must be letters, digits and _, not starting with a digit' })
            .refine((key) => !FORBIDDEN_KEYS.has(key), { message: 'is a reserved name' }),
          SecretNameSchema,
        )
        .refine((secrets) => Object.keys(secrets).length <= 64, { message: 'must have at most 64 variables' })
        .optional()
        .openapi({
          description:
            "Variables whose values are the caller's secrets (`PUT /v1/secrets/{name}`), read at each call: variable → secret name. Each must exist; a variable may not also be in `env`.",
          example: { DB_PASSWORD: 'db-password' },
        }),
      timeoutMs: z.number().int().min(100).max(limits.maxTimeoutMs).optional(),
      memoryMb: z.number().int().min(6).max(limits.maxMemoryMb).optional(),
      minWarm: z
        .number()
        .int()
        .min(0)
        .max(limits.maxMinWarm)
        .optional()
        .openapi({ description: 'Containers each worker keeps pre-started for it, from now on, called or not (default 0: only while it is called)' }),
      reuse: z
        .boolean()
        .refine((reuse) => limits.reuseAllowed || !reuse, { message: 'is turned off on this platform (FAASBOX_REUSE=off)' })
        .optional()
        .openapi({
          description:
            'One container serves successive executions, one at a time: every process of the last one killed and /tmp emptied in between (default false: a fresh container for each). Refused when the operator turned reuse off.',
        }),
      retry: RetryInputSchema.optional().openapi({
        description:
          'How its asynchronous executions (`wait=false`) are retried. Absent: never (one attempt). Only failures of the platform are retried (no worker took it, its worker was lost, the engine or the image pull failed, no disk), unless `onFunctionError`.',
      }),
    })
    .openapi('FunctionInput');

  const FunctionSchema = z
    .object({
      id: z.uuid(),
      name: z.string(),
      image: z.string().openapi({ description: 'The image as given' }),
      imageDigest: z
        .string()
        .nullable()
        .openapi({
          description:
            "What the image named in its registry when this version was made: workers run exactly that, however its tag moves later (PATCH the image, even the same tag, to deploy a moved one). Null: a version made before pinning, run by its tag until the function's next update",
          example: 'sha256:…',
        }),
      command: z.array(z.string()).nullable(),
      env: z.record(z.string(), z.string()),
      secrets: z.record(z.string(), z.string()).openapi({ description: 'Variables that take a secret at each call: variable → secret name (never its value)' }),
      timeoutMs: z.number().int(),
      memoryMb: z.number().int(),
      minWarm: z.number().int(),
      reuse: z.boolean(),
      retry: RetrySchema.nullable(),
      createdAt: z.iso.datetime(),
      version: z.number().int().openapi({ description: 'The current version: 1 at creation, one more per update or rollback; its ETag is `"<version>"`' }),
      versionCreatedAt: z.iso.datetime().openapi({ description: 'When the current version was made' }),
      rolledBackFrom: z.number().int().nullable().openapi({ description: 'For a version made by a rollback: the earlier version it copies' }),
    })
    .openapi('Function');

  const FunctionListSchema = z.object({ functions: z.array(FunctionSchema) }).openapi('FunctionList');

  // Strict again: omit and partial keep the shape, not the refusal of unknown keys.
  const FunctionChangesSchema = z
    .strictObject(FunctionInputSchema.omit({ name: true }).partial().shape)
    .openapi('FunctionChanges', { description: 'What changes: the fields given; the others stay as the current version has them' });

  const VersionListSchema = z
    .object({ current: z.number().int(), versions: z.array(FunctionSchema).openapi({ description: 'Every version, oldest first' }) })
    .openapi('FunctionVersions');

  return { FunctionInputSchema, FunctionSchema, FunctionListSchema, FunctionChangesSchema, VersionListSchema };
}

export const ProblemSchema = z
  .object({
    type: z.string().openapi({
      format: 'uri',
      description: 'What went wrong, as a URN: `urn:faasbox:problem:<slug>`; stable, so clients may branch on it',
      example: 'urn:faasbox:problem:email-taken',
    }),
    title: z.string().openapi({ description: 'The HTTP status in words', example: 'Conflict' }),
    status: z.number().int().openapi({ description: 'The HTTP status', example: 409 }),
    detail: z.string().openapi({ description: 'What happened, for people', example: 'the email is already registered' }),
    correlationId: z
      .string()
      .optional()
      .openapi({ description: 'The request id, also in the X-Request-Id header: quote it when reporting a problem' }),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'For 400: every invalid field, dotted (`env.A`, `command.0`), `(body)` for the body as a whole' }),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details: the shape of every error answer' });

const problemContent = { 'application/problem+json': { schema: ProblemSchema } };
export const problem = (description: string) => ({ description, content: problemContent });

const retryAfter = z.object({
  'Retry-After': z.number().int().min(1).openapi({ description: 'Seconds to wait before trying again' }),
});

/** A refusal that ends by itself: the Retry-After header says when to try again. */
export const retryLater = (description: string) => ({ ...problem(description), headers: retryAfter });

/** Answered by the bearer middleware in front of every route with `security`. */
export const unauthorized = {
  ...problem('Missing, malformed, expired or revoked bearer token'),
  headers: z.object({
    'WWW-Authenticate': z.string().openapi({ description: 'The Bearer challenge', example: 'Bearer error="invalid_token"' }),
  }),
};

/** Answered before the handler runs, for every route that reads a body: the body limit. */
export const bodyTooLarge = problem('The body is larger than FAASBOX_BODY_LIMIT_BYTES (1 MiB by default); the connection is closed');

/** Answered before the handler runs, for every route that reads a JSON body. */
export const jsonBodyRefusals = {
  413: bodyTooLarge,
  415: problem('The body is not `application/json`'),
};

/**
 * The refusal every route has, said where a route has none of its own (the health routes, this
 * document): the server answers a request it cannot parse before any route sees it. Node answers
 * with a problem (entry/node.ts); Bun and Deno answer in their own words.
 */
export const malformedRequest = problem(
  'The request is not valid HTTP or its target no URL (400), or its headers are too large (431): refused before it reaches a route (as a problem on Node; Bun and Deno answer in their own words)',
);

/** Any route may fail unexpectedly; the answer then says nothing of the cause, which goes to the logs. */
export const internalError = problem('Unexpected failure: quote the correlationId when reporting it');

/** The `Location` header of an answer that names a new resource. */
export const locationHeader = (description: string) => z.object({ Location: z.string().openapi({ description }) });
