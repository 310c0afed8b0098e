/** JSON lines on stdout: one event per line, never a secret, never a stack trace. */
export type Logger = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export const jsonLogger: Logger = (level, message, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
};

/** Name and message only: a stack trace or a cause may quote internals or data. */
export const describeError = (error: unknown) =>
  error instanceof Error ? { error: error.name, reason: error.message } : { error: 'non-error thrown' };
