import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type CommandResult = { status: number | null; stdout: string; stderr: string };

/**
 * The real `faasbox` binary as an operator runs it beside a deployment: on the server's data dir,
 * and on its EventStoreDB when the workflow sets one, as the server does (server-process.ts).
 */
export const operatorCommand = (dataDir: string, ...args: string[]): CommandResult => operatorCommandWith(dataDir, {}, ...args);

/** The same, with more of the environment (the master keys of a rotation). */
export function operatorCommandWith(dataDir: string, env: Record<string, string>, ...args: string[]): CommandResult {
  const result = spawnSync(process.execPath, ['bin/faasbox.mjs', ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      FAASBOX_DATA_DIR: dataDir,
      ...(process.env.FAASBOX_EVENTSTORE_URL ? { FAASBOX_EVENTSTORE_URL: process.env.FAASBOX_EVENTSTORE_URL } : {}),
      ...env,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The only way to make an operator: `faasbox operators grant` against the server's store. */
export function grantOperator(dataDir: string, email: string): void {
  const granted = operatorCommand(dataDir, 'operators', 'grant', '--email', email);
  assert.is(granted.status, 0, `faasbox operators grant: ${granted.stderr}`);
}
