/**
 * Redelivery back-off of a job or status whose handler settled without acking it: 250 ms,
 * doubling per delivery, at most 10 s. One definition for every adapter, so that they hand a
 * message back on the same schedule and pass the same contract suite.
 */
export const retryDelayMs = (deliveryCount: number): number => Math.min(250 * 2 ** Math.max(0, deliveryCount - 1), 10_000);
