import { type Command, InvalidArgumentError } from 'commander';
import { isTerminal } from '../domain/execution-outcome.ts';
import type { ApiClient, Execution } from './api-client.ts';
import { type ClientOptions, runClient, withClientOptions } from './client-session.ts';
import { printFields, printJson, printTable } from './output.ts';
import { resolveFunction } from './resolve-function.ts';

/** `exec get | ls`: the executions of your functions, e.g. one started with `fn invoke --async`. */
export function addExecutionCommands(program: Command) {
  const exec = program.command('exec').description('executions: show one, list a function’s');

  withClientOptions(
    exec
      .command('get')
      .description('one execution: its status, exit code, duration and output')
      .argument('<id>', 'the execution id (fn invoke --async prints it)')
      .option('--wait', 'wait until it has finished'),
  ).action((id: string, options: ClientOptions & { wait?: boolean }) =>
    runClient(options, async (session) => {
      session.context.subject = id;
      const api = session.api();
      const execution = options.wait ? await untilFinished(api, id) : await api.getExecution(id);
      if (session.json) return void printJson(execution);
      printExecution(execution);
    }),
  );

  withClientOptions(
    exec
      .command('ls')
      .alias('list')
      .description("a function's executions, newest first")
      .argument('<function>', 'name or id')
      .option('--limit <n>', 'at most this many (1 to 1000; default 100)', limit),
  ).action((ref: string, options: ClientOptions & { limit?: number }) =>
    runClient(options, async (session) => {
      const api = session.api();
      const { id } = await resolveFunction(session, api, ref);
      const executions = await api.listExecutions(id, options.limit);
      if (session.json) return void printJson({ executions });
      if (executions.length === 0) return void console.error(`no executions of ${ref} yet: faasbox fn invoke ${ref}`);
      printTable(
        ['EXECUTION', 'STATUS', 'EXIT', 'DURATION', 'QUEUED'],
        executions.map((e) => [e.executionId, e.status, e.exitCode === null ? '-' : String(e.exitCode), e.durationMs === null ? '-' : `${e.durationMs}ms`, e.queuedAt]),
      );
    }),
  );
}

/** Polls, from 100 ms up to a second apart; the server ends every execution by its deadline. */
async function untilFinished(api: ApiClient, id: string): Promise<Execution> {
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    const execution = await api.getExecution(id);
    if (isTerminal(execution.status)) return execution;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function printExecution(execution: Execution) {
  printFields([
    ['execution', execution.executionId],
    ['function', execution.functionId],
    ['status', execution.status],
    ['exit code', execution.exitCode === null ? undefined : String(execution.exitCode)],
    ['reason', execution.reason ?? undefined],
    ['duration', execution.durationMs === null ? undefined : `${execution.durationMs} ms`],
    ['queued', execution.queuedAt],
    ['started', execution.startedAt ?? undefined],
    ['start', execution.start === 'prestarted' ? 'pre-started container' : execution.start === 'cold' ? 'cold (container created for it)' : undefined],
    ['finished', execution.finishedAt ?? undefined],
    ['truncated', execution.truncated ? 'yes: the output was cut at the platform’s limit' : undefined],
    ['late results', execution.lateResults.length > 0 ? execution.lateResults.map((late) => `${late.type} at ${late.at}`).join(', ') : undefined],
  ]);
  for (const [name, text] of [
    ['stdout', execution.stdout],
    ['stderr', execution.stderr],
  ] as const) {
    if (text === '') continue;
    process.stdout.write(`--- ${name}\n${text}${text.endsWith('\n') ? '' : '\n'}`);
  }
}

function limit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new InvalidArgumentError('must be a whole number from 1 to 1000');
  return Number(value);
}
