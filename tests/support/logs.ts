import { createLogger, type Logger } from '../../src/observability/logger';

/** A real pino logger whose lines are kept in memory, so tests can read what was logged. */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(line) });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
