import { randomUUID } from 'node:crypto';
import { AsyncResource } from 'node:async_hooks';
import type { RequestHandler } from 'express';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { requestContext } from './request-context';

/** Requests slower than this are logged at warn even when they succeed. */
const SLOW_MS = 2000;

/** The routes Twilio, Retell and the user's backend call; health checks, scrapes and the admin pages are not timed. */
const WEBHOOK_ROUTES = /^\/(twilio|retell|calls)(\/|$)/;

/** An id a router set (Heroku's is a UUID); anything else is replaced rather than logged. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The identifiers a webhook body carries, for the request's log line. */
function callIds(body: unknown): { callSid?: string; callId?: string } {
  if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) return {};
  const b = body as { CallSid?: unknown; call?: { call_id?: unknown } };
  return {
    ...(typeof b.CallSid === 'string' ? { callSid: b.CallSid.slice(0, 64) } : {}),
    ...(typeof b.call?.call_id === 'string' ? { callId: b.call.call_id.slice(0, 128) } : {}),
  };
}

/**
 * Gives each request an id (the router's `X-Request-Id`, e.g. Heroku's, or a new one), answers it in
 * `X-Request-Id`, and puts it on every log line written while the request is handled. Then one log
 * line and, for webhook routes, one histogram sample per request. Successful fast requests log at
 * debug, so the hot path writes nothing at the default level beyond the handlers' own line per call;
 * refusals and slow answers log at info and warn.
 */
export function requestObserver(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const incoming = req.get('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', requestId);
    requestContext.run({ requestId }, () => {
      // The body arrives in events emitted from the socket's context, not this one; bind them to the
      // request so the handlers that run after the body is read still see its id.
      req.emit = AsyncResource.bind(req.emit, 'bridge.request', req) as typeof req.emit;
      res.on(
        'finish',
        AsyncResource.bind(() => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          // Only matched routes are labelled, so scanners probing random paths cannot grow the series.
          const route = req.route?.path as string | undefined;
          if (route && WEBHOOK_ROUTES.test(route)) metrics.webhookDuration.observe({ route, code: String(res.statusCode) }, ms / 1000);
          const level = ms > SLOW_MS ? 'warn' : res.statusCode >= 400 && res.statusCode < 500 ? 'info' : 'debug';
          if (!logger.isLevelEnabled(level)) return;
          logger[level]({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10, ...callIds(req.body) }, 'request');
        }),
      );
      next();
    });
  };
}
