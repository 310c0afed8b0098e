import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.ts';
import { ReadModelsInUseError } from '../../projections/read-model-store.ts';
import { addOperatorCommands } from './operator-commands.ts';
import { UsageError } from './usage-error.ts';

const program = new Command('faasbox')
  .description('Faasbox from the command line')
  .showHelpAfterError()
  .exitOverride();
addOperatorCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeOf(error);
}

/** Known failures print one plain line; anything else says no more than its message. */
function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode; // commander has printed it already
  if (error instanceof UsageError) {
    console.error(`faasbox: ${error.message}`);
    return 2;
  }
  const known = error instanceof ConfigError || error instanceof ReadModelsInUseError;
  console.error(`faasbox: ${known ? error.message : `failed: ${error instanceof Error ? error.message : String(error)}`}`);
  return 1;
}
