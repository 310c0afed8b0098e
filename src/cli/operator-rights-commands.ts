import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { type OperatorChange, grantOperator, revokeOperator } from '../commands/operator-rights.ts';
import { loadConfig } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import { createReadModels } from '../../projections/read-models.ts';
import { projectionStatus } from '../../projections/status.ts';
import { openExistingReadModels, withStore } from './operator-stores.ts';
import { printJson, printTable } from './output.ts';
import { UsageError } from './usage-error.ts';

type Change = typeof grantOperator;

/**
 * `faasbox operators`: the only way to make an operator. It writes to the store directly, so it
 * takes the store's credentials, which nobody who merely registers an account has.
 */
export function addOperatorRightsCommands(program: Command) {
  const operators = program.command('operators').description('who may call the admin routes (/v1/admin/*)');

  operators
    .command('grant')
    .description('make the account that holds this email an operator (a later account with the email is not)')
    .requiredOption('--email <email>', "the account's email")
    .action(({ email }: { email: string }) =>
      change(grantOperator, email, {
        changed: (who) => `granted operator rights to ${who}`,
        unchanged: (who) => `${who} is already an operator`,
      }),
    );

  operators
    .command('revoke')
    .description('take operator rights away; they end at the next request')
    .requiredOption('--email <email>', "the account's email")
    .action(({ email }: { email: string }) =>
      change(revokeOperator, email, {
        changed: (who) => `revoked operator rights of ${who}`,
        unchanged: (who) => `${who} was not an operator`,
      }),
    );

  operators
    .command('ls')
    .description('the operators, as the read models last saw them')
    .option('--json', 'as JSON')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig(process.env);
      const db = openExistingReadModels(config);
      try {
        const { users } = createReadModels(db);
        const listed = users.listOperators().map(({ id, email, grantedAt }) => ({ userId: id, email, grantedAt }));
        const [status] = (await withStore(config, (store) => projectionStatus(store, db, [users]))).projections;
        if (options.json) {
          printJson({ operators: listed, eventsBehind: status!.lag });
          return;
        }
        if (listed.length === 0) console.log('no operators: grant one with `faasbox operators grant --email <email>`');
        else printTable(['USER', 'EMAIL', 'GRANTED'], listed.map((row) => [row.userId, row.email, row.grantedAt]));
        if (status!.lag > 0) {
          console.error(`faasbox: the read models are ${status!.lag} events behind the store: a grant or revoke among them is not shown (is the api running?)`);
        }
      } finally {
        db.close();
      }
    });
}

type Wording = { changed: (who: string) => string; unchanged: (who: string) => string };

async function change(command: Change, email: string, say: Wording) {
  const request = {
    by: whoRuns(),
    now: new Date(),
    context: { correlationId: crypto.randomUUID(), newId: () => crypto.randomUUID() },
  };
  let result: OperatorChange;
  try {
    result = await withStore(loadConfig(process.env), (store) => command(store, email, request));
  } catch (error) {
    if (error instanceof DomainError && error.code === 'UserNotFound') throw new UsageError(`no live account has the email ${email}`);
    throw error;
  }
  const who = `${email} (user ${result.userId})`;
  console.log(result.changed ? say.changed(who) : say.unchanged(who));
}

/** The host's name for who runs the command; a container may run as a uid with no name. */
function whoRuns(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  return `${user}@${hostname()}`;
}
