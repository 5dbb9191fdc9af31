import pino, { type Logger, type DestinationStream } from 'pino';
import { requestContext } from './request-context';

export type { Logger };

/**
 * Paths that could carry a credential. Handlers log identifiers (CallSid, call_id, job id), never whole
 * configs or headers, but redaction is the net under that rule.
 */
const REDACT = [
  'authToken',
  'apiKey',
  'password',
  'authorization',
  '*.authToken',
  '*.apiKey',
  '*.password',
  '*.authorization',
  'headers.authorization',
  'headers["x-twilio-signature"]',
  'headers["x-retell-signature"]',
  'req.headers.authorization',
  'req.headers["x-twilio-signature"]',
  'req.headers["x-retell-signature"]',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'twilio-retell-bridge' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // The id of the request being handled, on every line written for it (see requests.ts).
      mixin: () => {
        const context = requestContext.getStore();
        return context ? { requestId: context.requestId } : {};
      },
    },
    destination,
  );
}

/** What a call's code logs through: the levels it uses, nothing else. */
export type CallLog = Pick<Logger, 'error' | 'warn' | 'info' | 'debug'>;

/**
 * A child logger with `bindings`, made only when a line is written at an enabled level: most calls on
 * the voice webhook log nothing at the configured level, and pino serialises a child's bindings when it
 * is made.
 */
export function lazyChild(logger: Logger, bindings: Record<string, unknown>): CallLog {
  let child: Logger | undefined;
  const at =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (...args: unknown[]): void => {
      if (!logger.isLevelEnabled(level)) return;
      child ??= logger.child(bindings);
      (child[level] as (...a: unknown[]) => void)(...args);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as CallLog;
}
