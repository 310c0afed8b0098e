import { loadavg } from 'node:os';

/**
 * The 1-minute load average as a figure is made. Above the core count, something besides the
 * benchmark was running (another benchmark, a build): its rates are then low, and noisy.
 */
export const loadAverage = () => Math.round(loadavg()[0]! * 100) / 100;
