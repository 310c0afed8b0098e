/**
 * JSON lines on stdout through pino: one event per line, never a secret, never a stack trace.
 * Each line: `level` ("info", "warn", "error"), `time` (ISO 8601), the fields, then `message`.
 * Lines about one request or one execution carry its `correlationId`.
 */
import pino, { type DestinationStream } from 'pino';
import type { Logger } from './ports/logger.ts';


/**
 * Defence in depth: no call site logs these, and a field with one of these names is masked
 * wherever it sits, at the top or one level down (`job.env`, `headers.authorization`).
 */
const SECRET_FIELDS = [
  'password',
  'passwordHash',
  'token',
  'authorization',
  'cookie',
  'env',
  'stdin',
  'secret',
  'secretEnv',
  'jwtSecret',
  'masterKeys',
  'FAASBOX_MASTER_KEY',
  'FAASBOX_JWT_SECRET',
];
const REDACTED_PATHS = [...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]), '*.headers.authorization', '*.headers.cookie'];

/**
 * `destination` is for tests; by default pino's own stdout writer, synchronous (no worker-thread
 * transport), so it behaves the same on Node, Bun and Deno and a line logged just before
 * `process.exit` is not lost.
 */
export function createJsonLogger(destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  const options = {
    messageKey: 'message',
    // No pid and hostname on every line: the worker id and the deployment say where it came from.
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const redacting = pino({ ...options, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination);
  // Redaction walks every path on every line: a tenth of an authenticated GET, for its access
  // line (measured with `npm run bench`). Flat fields with no secret-named key have nothing it could mask.
  const plain = pino(options, destination);
  return (level, message, fields = {}) => (nothingToRedact(fields) ? plain : redacting)[level](fields, message);
}

const SECRET_FIELD_NAMES = new Set(SECRET_FIELDS);

function nothingToRedact(fields: Record<string, unknown>): boolean {
  for (const key in fields) {
    const value = fields[key];
    if (SECRET_FIELD_NAMES.has(key) || (typeof value === 'object' && value !== null)) return false;
  }
  return true;
}

export const jsonLogger: Logger = createJsonLogger();
