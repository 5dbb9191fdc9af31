import type { ErrorRequestHandler } from 'express';
import { StoreUnavailableError } from '../calls/errors';
import { HttpError } from '../http/errors';
import { BodyError } from '../http/read-body';
import type { Logger } from '../observability/logger';

/**
 * The last handler: bad input gets a 4xx with a reason; anything else is our fault, logged, and
 * answered with a bare 500 that leaks nothing.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let status = 500;
    let message = 'internal error';
    if (err instanceof HttpError || err instanceof BodyError) {
      [status, message] = [err.status, err.message];
      if (err instanceof BodyError && err.closeConnection) res.setHeader('Connection', 'close');
      if (err instanceof BodyError && status === 503) res.setHeader('Retry-After', '1');
    } else if (err instanceof StoreUnavailableError) {
      [status, message] = [503, err.message];
    } else if (typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500) {
      status = (err as { status: number }).status;
      message = 'bad request';
    }
    if (status >= 500 && !(err instanceof BodyError)) logger.error({ err, path: req.path }, 'request failed');
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
