import type { Command } from 'commander';
import { removeLogin, saveLogin } from './credentials.ts';
import { addDeadLetterCommands } from './dead-letter-commands.ts';
import { addSecretCommands } from './secret-commands.ts';
import { addExecutionCommands } from './execution-commands.ts';
import { addFunctionCommands } from './function-commands.ts';
import { addWorkerCommands } from './worker-commands.ts';
import { loginHint } from './failures.ts';
import { printFields, printJson } from './output.ts';
import { obtainPassword } from './password.ts';
import { type ClientOptions, runClient, withClientOptions } from './client-session.ts';

/** The names under which the client commands live: `faasbox <name> …` needs only this module. */
export const CLIENT_COMMANDS = new Set(['register', 'login', 'logout', 'whoami', 'fn', 'exec', 'dlq', 'workers']);

/**
 * What a user of a Faasbox server runs from their machine: an account, a login, functions and
 * their executions, over the HTTP API. The token of each server lives in the credentials file
 * (credentials.ts); it is not printed unless asked for.
 */
export function addClientCommands(program: Command) {
  type AccountOptions = ClientOptions & { email: string; password?: string };

  withClientOptions(
    program
      .command('register')
      .description('create an account (then log in with faasbox login)')
      .requiredOption('--email <email>', 'the email of the account')
      .option('--password <password>', 'the password (else asked at a terminal, or the first line of stdin)'),
  ).action((options: AccountOptions) =>
    runClient(options, async (session) => {
      session.context.email = options.email;
      const password = await obtainPassword(options.password, { confirm: true });
      const user = await session.anonymousApi().register(options.email, password);
      if (session.json) return void printJson(user);
      console.log(`registered ${user.email} (id ${user.id}); log in with: ${loginHint({ ...session.context, email: user.email })}`);
    }),
  );

  withClientOptions(
    program
      .command('login')
      .description('get a token and store it (mode 600) for the commands that follow')
      .requiredOption('--email <email>', 'the email of the account')
      .option('--password <password>', 'the password (else asked at a terminal, or the first line of stdin)')
      .option('--print-token', 'also print the token (for curl and scripts): it is a password, keep it out of logs'),
  ).action((options: AccountOptions & { printToken?: boolean }) =>
    runClient(options, async (session) => {
      session.context.email = options.email;
      const password = await obtainPassword(options.password, { confirm: false });
      const issued = await session.anonymousApi().login(options.email, password);
      // The server compares emails lowercased and trimmed; store the one it knows.
      const email = options.email.trim().toLowerCase();
      saveLogin(session.credentialsPath, { url: session.url, email, token: issued.token, expiresAt: issued.expiresAt });
      const summary = { url: session.url, email, expiresAt: issued.expiresAt };
      if (session.json) return void printJson(options.printToken ? { ...summary, token: issued.token } : summary);
      const said = `logged in to ${session.url} as ${email} until ${issued.expiresAt} (token in ${session.credentialsPath})`;
      if (!options.printToken) return void console.log(said);
      console.error(said);
      console.log(issued.token);
    }),
  );

  withClientOptions(
    program.command('logout').description("forget this server's token on this machine (it stays valid until it expires)"),
  ).action((options: ClientOptions) =>
    runClient(options, async (session) => {
      const removed = removeLogin(session.credentialsPath, session.url);
      if (session.json) return void printJson({ url: session.url, loggedOut: removed !== undefined });
      console.log(removed === undefined ? `not logged in to ${session.url}` : `logged out of ${session.url} (${removed.email})`);
    }),
  );

  withClientOptions(program.command('whoami').description('the account the stored token stands for')).action((options: ClientOptions) =>
    runClient(options, async (session) => {
      const user = await session.api().me();
      const expiresAt = session.login?.expiresAt;
      if (session.json) return void printJson({ url: session.url, ...user, expiresAt });
      printFields([
        ['email', user.email],
        ['id', user.id],
        ['server', session.url],
        ['token until', expiresAt],
      ]);
    }),
  );

  addFunctionCommands(program);
  addExecutionCommands(program);
  addDeadLetterCommands(program);
  addSecretCommands(program);
  addWorkerCommands(program);
}
