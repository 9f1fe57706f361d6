/**
 * Structured logs (pino). Tokens and message bodies never reach a log line: the redaction
 * list below removes them wherever a caller puts them by mistake.
 */
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Paths removed from every log record. */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'body',
  '*.body',
  'password',
  '*.password',
];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The service name, on every line as `service`. */
  name: string;
  /** pino level. Default: env LOG_LEVEL, else "info" ("silent" under vitest unless LOG_LEVEL is set). */
  level?: string;
}

/** A JSON logger for one service. */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');
  return pino({
    level,
    base: { service: options.name, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}
