/** How the adapter calls a broker that may be away: calls that may fail, and waits that must end. */

/** How long a publish (or a flush) waits for the server's answer. */
export const publishTimeoutMs = 5_000;

/** Runs a request to the server, failed at once if the connection is down or drops meanwhile. */
export type WhileConnected = <T>(request: () => Promise<T>) => Promise<T>;

/**
 * For acks whose loss only delays a redelivery until ack_wait passes. They throw only on a
 * closed connection, and must not, from a timer, end the process.
 */
export const bestEffort = (send: () => void): void => {
  try {
    send();
  } catch {}
};

export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));
