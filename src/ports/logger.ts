/**
 * The Logger port: one line per event, with flat fields. The adapter (src/log.ts) writes JSON
 * lines through pino; tests pass a function that collects them.
 */
export type Logger = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** Name and message only: a stack trace or a cause may quote internals or data. */
export const describeError = (error: unknown) =>
  error instanceof Error ? { error: error.name, reason: error.message } : { error: 'non-error thrown' };
