/**
 * Where the agent's binary is: built from faasbox-agent.c by `npm ci` (its postinstall runs
 * build.sh) into worker/agent/bin, unless the operator points FAASBOX_AGENT_PATH elsewhere (a
 * worker in a container whose engine sees another file system).
 */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BUILT_AGENT_PATH = fileURLToPath(new URL('./bin/faasbox-agent', import.meta.url));

/**
 * The path to bind-mount. Checked here only when the engine shares this file system (a local
 * socket): a missing agent then stops the worker at start with the fix, rather than fail every run.
 */
export function agentBinary(configured: string | undefined, engineIsLocal: boolean): string {
  const path = configured ?? BUILT_AGENT_PATH;
  if (engineIsLocal) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new Error(
        configured
          ? `FAASBOX_AGENT_PATH: ${path} is not an executable file`
          : `the container agent is not built (${path}): run \`npm run build:agent\` (or \`npm ci\`), which needs gcc and libc6-dev`,
      );
    }
  }
  return path;
}
