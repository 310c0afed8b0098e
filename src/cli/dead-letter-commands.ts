import type { Command } from 'commander';
import { type ClientOptions, runClient, withClientOptions } from './client-session.ts';
import { printJson, printTable } from './output.ts';
import { UsageError } from './usage-error.ts';

/** `dlq ls | redrive | rm`: asynchronous executions that ended without success after their last attempt. */
export function addDeadLetterCommands(program: Command) {
  const dlq = program.command('dlq').description('dead letters: asynchronous executions that failed for good; list, run again, remove');

  withClientOptions(dlq.command('ls').alias('list').description('your dead letters, newest first')).action((options: ClientOptions) =>
    runClient(options, async (session) => {
      const deadLetters = await session.api().listDeadLetters();
      if (session.json) return void printJson({ deadLetters });
      if (deadLetters.length === 0) return void console.error('no dead letters');
      printTable(
        ['EXECUTION', 'FUNCTION', 'STATUS', 'ATTEMPTS', 'DEAD-LETTERED', 'REASON'],
        deadLetters.map((entry) => [entry.executionId, entry.functionId, entry.status, String(entry.attempts), entry.deadLetteredAt, entry.reason]),
      );
    }),
  );

  withClientOptions(
    dlq
      .command('redrive')
      .description('run dead letters again as new asynchronous executions (the same stdin); they leave the list')
      .argument('[execution]', 'the dead-lettered execution id')
      .option('--all', 'every dead letter of yours, oldest first'),
  ).action((executionId: string | undefined, options: ClientOptions & { all?: boolean }) =>
    runClient(options, async (session) => {
      if ((executionId === undefined) === (options.all !== true)) throw new UsageError('name one execution, or pass --all');
      if (executionId !== undefined) {
        const redriven = await session.api().redriveDeadLetter(executionId);
        if (session.json) return void printJson(redriven);
        return void console.log(`redriven ${redriven.redriveOf} as ${redriven.executionId}`);
      }
      const result = await session.api().redriveAllDeadLetters();
      if (session.json) return void printJson(result);
      for (const { executionId: old, redriveExecutionId } of result.redriven) console.log(`redriven ${old} as ${redriveExecutionId}`);
      for (const { executionId: old, detail } of result.failed) console.error(`not redriven ${old}: ${detail}`);
      if (result.failed.length > 0) process.exitCode = 1;
    }),
  );

  withClientOptions(dlq.command('rm').alias('delete').description('take a dead letter off the list without running it (its record stays)').argument('<execution>', 'the execution id')).action(
    (executionId: string, options: ClientOptions) =>
      runClient(options, async (session) => {
        await session.api().deleteDeadLetter(executionId);
        if (session.json) return void printJson({ deleted: true });
        console.log(`removed ${executionId} from the dead letters`);
      }),
  );
}
