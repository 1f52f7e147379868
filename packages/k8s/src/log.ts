import { type Logger, pino } from 'pino';

/** The root pino logger: JSON lines on stdout, level from --log-level / LOG_LEVEL (default info). */
export function createLogger(name: string, level = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { component: name }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger } from 'pino';
