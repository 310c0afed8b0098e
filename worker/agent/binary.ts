/**
 * Where the agent's binary is: built from faasbox-agent.c by `npm ci` (its postinstall runs
 * build.sh) into worker/agent/bin, unless the operator points FAASBOX_AGENT_PATH elsewhere (a
 * worker in a container whose engine sees another file system).
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BUILT_AGENT_PATH = fileURLToPath(new URL('./bin/faasbox-agent', import.meta.url));

/**
 * The path to bind-mount. Checked here only when the engine shares this file system (a local
 * socket): a missing agent then stops the worker at start with the fix, rather than fail every run.
 */
export function agentBinary(configured: string | undefined, engineIsLocal: boolean): string {
  const path = configured ?? BUILT_AGENT_PATH;
  if (engineIsLocal) {
    // Deno's access(X_OK) needs permission to read the uid: the mode bits say the same here.
    if (!isExecutableFile(path)) {
      throw new Error(
        configured
          ? `FAASBOX_AGENT_PATH: ${path} is not an executable file`
          : `the container agent is not built (${path}): run \`npm run build:agent\` (or \`npm ci\`), which needs gcc and libc6-dev`,
      );
    }
  }
  return path;
}

function isExecutableFile(path: string): boolean {
  try {
    const stats = statSync(path);
    return stats.isFile() && (stats.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}
