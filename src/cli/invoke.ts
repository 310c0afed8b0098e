import type { ApiClient, Execution } from './api-client.ts';
import type { Session } from './client-session.ts';
import { printJson } from './output.ts';
import type { ResolvedFunction } from './resolve-function.ts';
import { readAll } from './stdin.ts';

/** Like coreutils `timeout`: the command ran out of time. */
const EXIT_TIMED_OUT = 124;
/** Like `docker run` and `timeout`: the platform, not the function, failed (no exit code to pass on). */
const EXIT_NOT_RUN = 125;

/**
 * `fn invoke`: the function behaves like a local command. Stdin is read whole and sent as the
 * body (nothing is sent, and nothing awaited, when stdin is a terminal); the function's stdout and
 * stderr are written as they came back, with nothing added, and its exit code is returned.
 */
export async function invokeFunction(
  session: Session,
  api: ApiClient,
  target: ResolvedFunction & { ref: string },
  options: { async: boolean; idempotencyKey?: string; callback?: string },
): Promise<number> {
  const stdin = process.stdin.isTTY ? new Uint8Array() : await readAll(process.stdin);

  if (options.async) {
    const queued = await api.enqueue(target.id, stdin, options.idempotencyKey, options.callback);
    if (session.json) printJson(queued);
    else console.log(queued.executionId);
    return 0;
  }

  const { timedOut, execution } = await whileWaiting(session, target.ref, () => api.run(target.id, stdin, options.idempotencyKey));
  if (session.json) printJson(execution);
  else {
    process.stdout.write(execution.stdout);
    process.stderr.write(execution.stderr);
  }
  const say = (line: string) => {
    if (!session.json) process.stderr.write(`faasbox: ${line}\n`);
  };
  if (execution.truncated) say('warning: the output was cut at the platform’s limit (truncated)');

  if (timedOut || execution.status === 'timedOut') {
    const limit = target.definition?.timeoutMs ?? (await api.getFunction(target.id).then((f) => f.timeoutMs, () => null));
    say(`timed out${limit === null ? '' : ` after ${limit} ms`} (execution ${execution.executionId})`);
    return EXIT_TIMED_OUT;
  }
  return exitCodeOf(execution, say);
}

function exitCodeOf(execution: Execution, say: (line: string) => void): number {
  switch (execution.status) {
    case 'succeeded':
      return execution.exitCode ?? 0;
    case 'failed':
      if (execution.exitCode !== null && execution.exitCode !== 0) {
        // The exit code speaks for itself; a reason beyond it (out of memory) is worth a line.
        if (execution.reason !== null && execution.reason !== `exited with code ${execution.exitCode}`) say(execution.reason);
        return execution.exitCode;
      }
      say(`the function could not run: ${execution.reason ?? 'no reason given'} (execution ${execution.executionId})`);
      return EXIT_NOT_RUN;
    default:
      say(`the server answered before the end of the run (status ${execution.status}): see faasbox exec get ${execution.executionId}`);
      return 1;
  }
}

/**
 * A spinner on stderr, only when both stdout and stderr are terminals (never in a pipe or a
 * log). Ctrl-C stops waiting, not the run: the execution goes on and stays in the history.
 */
async function whileWaiting<T>(session: Session, ref: string, work: () => Promise<T>): Promise<T> {
  // A terminal of no width (some ptys report 0 columns) would make ora redraw without end.
  if (session.json || !process.stdout.isTTY || !process.stderr.isTTY || !(process.stderr.columns > 0)) return work();
  // Loaded here: ora takes a quarter of a second to load, which no pipe should pay for.
  const { default: ora } = await import('ora');
  // discardStdin would put a terminal in raw mode and swallow Ctrl-C.
  const spinner = ora({ text: `running ${ref}`, stream: process.stderr, discardStdin: false }).start();
  const interrupted = () => {
    spinner.stop();
    process.stderr.write(`faasbox: stopped waiting; the execution goes on: see faasbox exec ls ${ref}\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    return await work();
  } finally {
    process.off('SIGINT', interrupted);
    spinner.stop();
  }
}
