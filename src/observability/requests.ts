import type { RequestHandler } from 'express';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/** Requests slower than this are logged at warn even when they succeed. */
const SLOW_MS = 2000;

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
 * One log line and one histogram sample per request. Successful fast requests log at debug, so
 * the hot path writes nothing at the default level beyond the handlers' own line per call;
 * refusals and slow answers log at info and warn.
 */
export function requestObserver(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Only matched routes are labelled, so scanners probing random paths cannot grow the series.
      const route = req.route?.path as string | undefined;
      if (route) metrics.webhookDuration.observe({ route, status: String(res.statusCode) }, ms / 1000);
      const level = ms > SLOW_MS ? 'warn' : res.statusCode >= 400 && res.statusCode < 500 ? 'info' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10, ...callIds(req.body) },
        'request',
      );
    });
    next();
  };
}
