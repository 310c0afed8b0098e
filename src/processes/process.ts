/** A long-running loop of the api (the status recorder, the deadline sweeper): started, then stopped. */
export type RunningProcess = { stop(): Promise<void> };
