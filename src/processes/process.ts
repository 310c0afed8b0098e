/** A long-running loop of the api (the status recorder, the deadline sweeper): started, then stopped. */
export type RunningProcess = { stop(): Promise<void> };

/**
 * Runs `round` every `intervalMs`. A round still running when the next is due is not doubled; a
 * round that fails is reported and the next one comes all the same. Stopping waits for the round
 * under way.
 */
export function runEvery(intervalMs: number, round: () => Promise<unknown>, failed: (error: unknown) => void): RunningProcess {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= round()
      .catch(failed)
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
