import type { ErrorRequestHandler } from 'express';
import { StoreUnavailableError } from '../calls/errors';
import { HttpError } from '../http/errors';
import type { Logger } from '../observability/logger';

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
    } else if (err instanceof StoreUnavailableError) {
      [status, message] = [503, err.message];
    } else if (type && BODY_ERRORS[type]) {
      [status, message] = BODY_ERRORS[type];
    } else if (typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500) {
      status = (err as { status: number }).status;
      message = 'bad request';
    }
    if (status >= 500) logger.error({ err, path: req.path }, 'request failed');
    else logger.debug({ status, reason: message, path: req.path }, 'request refused');
    if (res.headersSent) return;
    // A JSON API (POST /calls) answers its errors in JSON too.
    if (res.locals.jsonErrors === true) {
      const error = status === 503 ? 'unavailable' : status >= 500 ? 'internal' : status === 413 ? 'too_large' : 'invalid';
      res.status(status).json({ error, reason: message });
      return;
    }
    res.status(status).type('text/plain').send(message);
  };
}
