import { type Command, InvalidArgumentError } from 'commander';
import { type ClientOptions, runClient, withClientOptions } from './client-session.ts';
import { invokeFunction } from './invoke.ts';
import { printFields, printJson, printTable } from './output.ts';
import { resolveFunction } from './resolve-function.ts';
import { UsageError } from './usage-error.ts';

/** `fn create | update | deploy | versions | rollback | ls | get | rm | invoke`: a function is named by its id or, when that is unique, its name. */
export function addFunctionCommands(program: Command) {
  const fn = program.command('fn').description('functions: create, update, deploy, versions, rollback, list, show, remove, invoke');

  withClientOptions(
    withSpecOptions(
      fn
        .command('create')
        .description('register a function: an image and, after --, the command to run in it')
        .argument('<name>', "letters, digits, '.', '_' or '-'")
        .argument('[command...]', "the command and its arguments, after -- (default: the image's own)")
        .requiredOption('--image <ref>', 'the container image, e.g. registry.local:5000/team/app:1.2'),
    ).addHelpText('after', "\nExample:\n  faasbox fn create shout --image 127.0.0.1:5000/faasbox/busybox:1 --env LANG=C -- sh -c 'tr a-z A-Z'"),
  ).action((name: string, command: string[], options: SpecOptions & { image: string }) =>
    runClient(options, async (session) => {
      const created = await session.api().createFunction({ name, image: options.image, ...specFrom(command, options) });
      if (session.json) return void printJson(created);
      console.log(`created function ${created.name}: ${created.id}`);
    }),
  );

  withClientOptions(
    withSpecOptions(
      fn
        .command('update')
        .description('change a function: the options given (and the command after --) make its next version, current at once')
        .argument('<function>', 'name or id')
        .argument('[command...]', 'a new command and its arguments, after --')
        .option('--image <ref>', 'a new container image')
        .option('--if-version <n>', 'only if this is still the current version (else refused, nothing changed)', positiveInteger),
    ),
  ).action((ref: string, command: string[], options: SpecOptions & { image?: string; ifVersion?: number }) =>
    runClient(options, async (session) => {
      const api = session.api();
      const { id } = await resolveFunction(session, api, ref);
      const changes = { ...(options.image !== undefined ? { image: options.image } : {}), ...specFrom(command, options) };
      if (Object.keys(changes).length === 0) throw new UsageError('nothing to change: give --image, another option, or a command after --');
      const updated = await api.updateFunction(id, changes, options.ifVersion);
      if (session.json) return void printJson(updated);
      console.log(`function ${updated.name} is at version ${updated.version}`);
    }),
  );

  withClientOptions(
    withSpecOptions(
      fn
        .command('deploy')
        .description('create the function of this name, or make these settings its next version if it exists')
        .argument('<name>', "letters, digits, '.', '_' or '-'")
        .argument('[command...]', "the command and its arguments, after -- (default: the image's own)")
        .requiredOption('--image <ref>', 'the container image'),
    ),
  ).action((name: string, command: string[], options: SpecOptions & { image: string }) =>
    runClient(options, async (session) => {
      const api = session.api();
      const existing = (await api.listFunctions()).filter((f) => f.name === name);
      if (existing.length > 1) throw new UsageError(`${existing.length} functions are named ${name}: update one by id (faasbox fn update <id>)`);
      const spec = { image: options.image, ...specFrom(command, options) };
      const deployed = existing[0] ? await api.updateFunction(existing[0].id, spec) : await api.createFunction({ name, ...spec });
      if (session.json) return void printJson(deployed);
      console.log(existing[0] ? `function ${name} is at version ${deployed.version}` : `created function ${name}: ${deployed.id}`);
    }),
  );

  withClientOptions(fn.command('versions').description("a function's versions, oldest first; * marks the current one").argument('<function>', 'name or id')).action(
    (ref: string, options: ClientOptions) =>
      runClient(options, async (session) => {
        const api = session.api();
        const { id } = await resolveFunction(session, api, ref);
        const listed = await api.listFunctionVersions(id);
        if (session.json) return void printJson(listed);
        printTable(
          ['VERSION', 'IMAGE', 'DIGEST', 'TIMEOUT', 'MEMORY', 'MADE', 'FROM'],
          listed.versions.map((v) => [
            `${v.version}${v.version === listed.current ? ' *' : ''}`,
            v.image,
            shortDigest(v.imageDigest),
            `${v.timeoutMs}ms`,
            `${v.memoryMb}MB`,
            v.versionCreatedAt,
            v.rolledBackFrom === null ? '' : `rollback to ${v.rolledBackFrom}`,
          ]),
        );
      }),
  );

  withClientOptions(
    fn
      .command('rollback')
      .description('make an earlier version current again (as the next version, a copy of it)')
      .argument('<function>', 'name or id')
      .argument('<version>', 'the version to go back to', positiveInteger),
  ).action((ref: string, version: number, options: ClientOptions) =>
    runClient(options, async (session) => {
      const api = session.api();
      const { id } = await resolveFunction(session, api, ref);
      const rolled = await api.rollbackFunction(id, version);
      if (session.json) return void printJson(rolled);
      console.log(`function ${rolled.name} is at version ${rolled.version}, a copy of version ${version}`);
    }),
  );

  withClientOptions(fn.command('ls').alias('list').description('your functions, newest first')).action((options: ClientOptions) =>
    runClient(options, async (session) => {
      const functions = await session.api().listFunctions();
      if (session.json) return void printJson({ functions });
      if (functions.length === 0) return void console.error('no functions yet: create one with faasbox fn create <name> --image <ref>');
      printTable(
        ['ID', 'NAME', 'IMAGE', 'TIMEOUT', 'MEMORY', 'CREATED'],
        functions.map((f) => [f.id, f.name, f.image, `${f.timeoutMs}ms`, `${f.memoryMb}MB`, f.createdAt]),
      );
    }),
  );

  withClientOptions(fn.command('get').description('one function').argument('<function>', 'name or id')).action(
    (ref: string, options: ClientOptions) =>
      runClient(options, async (session) => {
        const api = session.api();
        const { id, definition } = await resolveFunction(session, api, ref);
        const shown = definition ?? (await api.getFunction(id));
        if (session.json) return void printJson(shown);
        printFields([
          ['id', shown.id],
          ['name', shown.name],
          ['image', shown.image],
          ['image digest', shown.imageDigest ?? '(none: runs by its tag until its next update)'],
          ['command', shown.command === null ? "(the image's own)" : shown.command.map(shellQuote).join(' ')],
          ['env', Object.entries(shown.env).map(([key, value]) => shellQuote(`${key}=${value}`)).join(' ') || '(none)'],
          ['secrets', Object.entries(shown.secrets).map(([variable, name]) => `${variable}=${name}`).join(' ') || '(none)'],
          ['timeout', `${shown.timeoutMs} ms`],
          ['memory', `${shown.memoryMb} MB`],
          ['kept warm', shown.minWarm > 0 ? `${shown.minWarm} pre-started per worker` : 'while called'],
          ['containers', shown.reuse ? 'reused, cleaned between executions' : 'a fresh one per execution'],
          ['async retries', shown.retry === null ? 'none' : describeRetry(shown.retry)],
          ['version', `${shown.version}${shown.rolledBackFrom === null ? '' : ` (a rollback to ${shown.rolledBackFrom})`}, made ${shown.versionCreatedAt}`],
          ['created', shown.createdAt],
        ]);
      }),
  );

  withClientOptions(fn.command('rm').alias('delete').description('remove a function').argument('<function>', 'name or id')).action(
    (ref: string, options: ClientOptions) =>
      runClient(options, async (session) => {
        const api = session.api();
        const { id } = await resolveFunction(session, api, ref);
        await api.deleteFunction(id);
        if (session.json) return void printJson({ deleted: true, id });
        console.log(`deleted function ${ref === id ? id : `${ref} (${id})`}`);
      }),
  );

  withClientOptions(
    fn
      .command('invoke')
      .description("run a function: stdin is its input; its stdout, stderr and exit code become this command's")
      .argument('<function>', 'name or id')
      .option('--async', 'queue the run and print its execution id at once (then: faasbox exec get <id>)')
      .option('--idempotency-key <key>', 'run at most once per key for a day: the same key again gives the same execution (safe to retry)')
      .option('--callback <url>', 'with --async: POST the final record, signed, to this URL once the run ended (a host the operator allows)')
      .addHelpText(
        'after',
        [
          '',
          "Exit status: the function's own exit code; 124 when it timed out; 125 when the platform could",
          'not run it (the image is missing, the worker was lost: the reason is printed); 1 when the',
          'request failed (not logged in, limit reached, no such function); 2 for a usage error.',
        ].join('\n'),
      ),
  ).action((ref: string, options: ClientOptions & { async?: boolean; idempotencyKey?: string; callback?: string }) =>
    runClient(options, async (session) => {
      // Before anything is sent: a waiting run has no callback (the server would say 400).
      if (options.callback !== undefined && options.async !== true) throw new UsageError('--callback needs --async');
      const api = session.api();
      const target = await resolveFunction(session, api, ref);
      return invokeFunction(session, api, { ref, ...target }, { async: options.async === true, idempotencyKey: options.idempotencyKey, callback: options.callback });
    }),
  );
}

type SpecOptions = ClientOptions & {
  timeout?: number;
  memory?: number;
  minWarm?: number;
  reuse?: boolean;
  env?: Record<string, string>;
  secret?: Record<string, string>;
  retryAttempts?: number;
  retryBackoff?: number;
  retryFunctionErrors?: boolean;
};

/** The settings create, update and deploy share: how the function runs. */
const withSpecOptions = (command: Command) =>
  command
    .option('--timeout <ms>', 'kill the run after this many milliseconds (default: the server’s)', positiveInteger)
    .option('--memory <mb>', 'memory limit in MB (default: the server’s)', positiveInteger)
    .option('--min-warm <n>', 'containers each worker keeps pre-started for it, called or not (default 0)', wholeNumber)
    .option('--reuse', 'one container serves successive executions, cleaned in between (default: a fresh one each)')
    .option('--no-reuse', 'a fresh container for each execution')
    .option('--env <NAME=VALUE>', 'an environment variable; repeat for more (the whole set is replaced)', collectEnv)
    .option('--secret <NAME=SECRET>', 'a variable that gets your secret of that name at each call (faasbox secret set); repeat for more (the whole set is replaced)', collectEnv)
    .option('--retry-attempts <n>', 'attempts in all for an --async invocation that the platform failed (default 1: no retry)', positiveInteger)
    .option('--retry-backoff <ms>', 'the wait before the first retry, doubling after each (default 1000)', wholeNumber)
    .option('--retry-function-errors', "also retry the function's own failures (non-zero exit, OOM kill, its timeout)");

/** The settings given, and only those, as the API takes them. */
const specFrom = (command: string[], options: SpecOptions) => ({
  ...(command.length > 0 ? { command } : {}),
  ...(options.env !== undefined ? { env: options.env } : {}),
  ...(options.secret !== undefined ? { secrets: options.secret } : {}),
  ...(options.timeout !== undefined ? { timeoutMs: options.timeout } : {}),
  ...(options.memory !== undefined ? { memoryMb: options.memory } : {}),
  ...(options.minWarm !== undefined ? { minWarm: options.minWarm } : {}),
  ...(options.reuse !== undefined ? { reuse: options.reuse } : {}),
  ...(options.retryAttempts !== undefined ? { retry: retryPolicy(options.retryAttempts, options) } : {}),
});

function retryPolicy(maxAttempts: number, options: { retryBackoff?: number; retryFunctionErrors?: boolean }) {
  return {
    maxAttempts,
    ...(options.retryBackoff !== undefined ? { backoff: { initialMs: options.retryBackoff, maxMs: Math.max(60_000, options.retryBackoff) } } : {}),
    ...(options.retryFunctionErrors ? { onFunctionError: true } : {}),
  };
}

const describeRetry = (retry: { maxAttempts: number; backoff: { initialMs: number; maxMs: number }; maxAgeSeconds: number; onFunctionError: boolean }) =>
  `${retry.maxAttempts} attempts, backoff ${retry.backoff.initialMs} ms doubling to ${retry.backoff.maxMs} ms, max age ${retry.maxAgeSeconds} s` +
  (retry.onFunctionError ? ", the function's own failures too" : ', platform failures only');

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive whole number');
  return Number(value);
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

/** `NAME=VALUE`, split at the first `=` (the value may hold more); a repeated name keeps the last value, as docker run -e does. */
function collectEnv(pair: string, env: Record<string, string> = {}): Record<string, string> {
  const equals = pair.indexOf('=');
  if (equals <= 0) throw new InvalidArgumentError('must be NAME=VALUE');
  return { ...env, [pair.slice(0, equals)]: pair.slice(equals + 1) };
}

/** For display: a word a POSIX shell reads back as itself. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A digest as Docker shortens an image id: its first 12 hex digits tell versions apart (`--json` has it whole). */
const shortDigest = (digest: string | null) => (digest === null ? 'by tag' : digest.slice(0, 'sha256:'.length + 12));
