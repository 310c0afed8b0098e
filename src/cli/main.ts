import { Command, CommanderError } from 'commander';
import { CLIENT_COMMANDS, addClientCommands } from './client-commands.ts';
import { UsageError } from './usage-error.ts';
import { errorMessage } from '../lib/error-message.ts';

// `faasbox … | head`: a reader that stops early ends the command quietly, as it does `cat`.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') console.error(`faasbox: cannot write the output: ${error.message}`);
  process.exit(error.code === 'EPIPE' ? (Number(process.exitCode) || 0) : 1);
});

const program = new Command('faasbox')
  .description('Faasbox from the command line: your functions on a server; operator rights, audit and read models beside a deployment')
  .showHelpAfterError()
  .exitOverride();
addClientCommands(program);

// The operator commands open the stores (SQLite, EventStoreDB, NATS clients): loading them costs
// a client command a third of a second, so they are left out when a client command runs.
const firstWord = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const operatorCommandsLoaded = firstWord === undefined || !CLIENT_COMMANDS.has(firstWord);
if (operatorCommandsLoaded) {
  const { addOperatorCommands } = await import('./operator-commands.ts');
  addOperatorCommands(program);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = await exitCodeOf(error);
}

/**
 * Known failures print one plain line; anything else says no more than its message. Exit
 * status 2 is a usage error (commander's own included), 1 anything else. Client commands report
 * their failures themselves (client-session.ts) and never get here.
 */
async function exitCodeOf(error: unknown): Promise<number> {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander has printed it already
  if (error instanceof UsageError) {
    console.error(`faasbox: ${error.message}`);
    return 2;
  }
  let known = false;
  if (operatorCommandsLoaded) {
    const [{ ConfigError }, { ReadModelsInUseError }] = await Promise.all([
      import('../config.ts'),
      import('../../projections/read-model-store.ts'),
    ]);
    known = error instanceof ConfigError || error instanceof ReadModelsInUseError;
  }
  console.error(`faasbox: ${known ? (error as Error).message : `failed: ${errorMessage(error)}`}`);
  return 1;
}
