import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../observability/logger';

/** An error whose status and message are meant for the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Runs a call-store operation, turning a Redis failure into 503 so the sender (Twilio, Retell)
 * retries later instead of seeing a 500 that blames the request.
 */
export async function needsStore<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(503, `call store unavailable: ${(err as Error).message}`);
  }
}

/** body-parser's error types, mapped to the answer a client can act on. */
const BODY_ERRORS: Record<string, [number, string]> = {
  'entity.too.large': [413, 'request body too large'],
  'parameters.too.many': [413, 'too many form parameters'],
  'entity.parse.failed': [400, 'request body could not be parsed'],
  'encoding.unsupported': [415, 'unsupported content encoding'],
  'charset.unsupported': [415, 'unsupported charset'],
  'request.size.invalid': [400, 'request body length does not match Content-Length'],
  'request.aborted': [400, 'request aborted'],
};

/**
 * The last handler: bad input gets a 4xx with a reason; anything else is our fault, logged, and
 * answered with a bare 500 that leaks nothing.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const type = (err as { type?: string }).type;
    let status = 500;
    let message = 'internal error';
    if (err instanceof HttpError) {
      [status, message] = [err.status, err.message];
    } else if (type && BODY_ERRORS[type]) {
      [status, message] = BODY_ERRORS[type];
    } else if (typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500) {
      status = (err as { status: number }).status;
      message = 'bad request';
    }
    if (status >= 500) logger.error({ err, path: req.path }, 'request failed');
    else logger.debug({ status, reason: message, path: req.path }, 'request refused');
    if (res.headersSent) return;
    res.status(status).type('text/plain').send(message);
  };
}
