import type { Command } from 'commander';
import { type ClientOptions, runClient, withClientOptions } from './client-session.ts';
import { printJson, printTable } from './output.ts';
import { prompt } from './password.ts';
import { readAll } from './stdin.ts';
import { UsageError } from './usage-error.ts';

/**
 * `secret set | ls | rm`: the caller's secrets, which functions take as variables (`fn create
 * --secret VAR=name`). A value is never an argument (it would show in `ps` and the shell's
 * history): it is typed at a silent prompt, or piped.
 */
export function addSecretCommands(program: Command) {
  const secret = program.command('secret').description('your secrets: values functions get as environment variables at each call, never shown again');

  withClientOptions(
    secret
      .command('set')
      .description('set a secret (a new one, or a new value for the next calls): typed at a silent prompt, or all of stdin less one final newline')
      .argument('<name>', "letters, digits, '.', '_' or '-'"),
  ).action((name: string, options: ClientOptions) =>
    runClient(options, async (session) => {
      const value = await readValue();
      const { secret: set, created } = await session.api().setSecret(name, value);
      if (session.json) return void printJson(set);
      console.log(`${created ? 'created' : 'changed'} secret ${set.name}`);
    }),
  );

  withClientOptions(secret.command('ls').alias('list').description('your secrets by name (never their values)')).action((options: ClientOptions) =>
    runClient(options, async (session) => {
      const secrets = await session.api().listSecrets();
      if (session.json) return void printJson({ secrets });
      if (secrets.length === 0) return void console.error('no secrets');
      printTable(['NAME', 'CREATED', 'UPDATED'], secrets.map((each) => [each.name, each.createdAt, each.updatedAt]));
    }),
  );

  withClientOptions(secret.command('rm').alias('delete').description('delete a secret no function of yours takes').argument('<name>', 'the secret')).action(
    (name: string, options: ClientOptions) =>
      runClient(options, async (session) => {
        await session.api().deleteSecret(name);
        if (session.json) return void printJson({ deleted: true });
        console.log(`deleted secret ${name}`);
      }),
  );
}

/** One final newline is what `echo` and editors add, not part of the value. */
async function readValue(): Promise<string> {
  const value = process.stdin.isTTY ? await prompt('Value: ') : new TextDecoder().decode(await readAll(process.stdin)).replace(/\r?\n$/, '');
  if (value === '') throw new UsageError('the value is empty: type it at the prompt, or pipe it on stdin');
  return value;
}
