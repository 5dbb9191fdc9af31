/**
 * Traces (OpenTelemetry). The bridge's code makes its spans through `withSpan` and the helpers below;
 * they go to the collector only once `startTracing` has set up the SDK, which it does only when an
 * exporter endpoint is configured. While tracing is off the SDK is never loaded (it is required by
 * `startTracing`), and a span costs one check of a module variable: `fn` runs with the API's
 * non-recording span.
 *
 * Span names are dotted (`twilio.voice`, `call.claim`); BullMQ names its own `<operation> <queue>`.
 */
import { SpanKind, SpanStatusCode, trace, INVALID_SPAN_CONTEXT, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { Telemetry } from 'bullmq';
import type { TracingConfig } from '../config';

export { SpanKind, type Attributes, type Span };

/** The Twilio call's CallSid (`CA…`), on every span that knows it. */
export const ATTR_CALL_SID = 'twilio.call_sid';
/** The Retell call's id (`call_…`), on every span that knows it. */
export const ATTR_RETELL_CALL_ID = 'retell.call_id';

/** Which of the bridge's processes is tracing: its `bridge.process` and default service name. */
export type TracedProcess = 'web' | 'worker' | 'dev';

/** What the SDK module hands back once set up. */
export interface TracingSdk {
  tracer: Tracer;
  /** BullMQ's telemetry option: spans for adding and processing jobs, the context carried in each job. */
  telemetry: Telemetry;
  /** Exports what is buffered, within `timeoutMs`. */
  flush(timeoutMs: number): Promise<void>;
  /** Exports what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

let sdk: TracingSdk | undefined;

/** What `fn` is given while tracing is off: the API's span that records nothing. */
const NOT_RECORDING: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Sets up the SDK (exporter, batching, sampler, context and W3C propagation) when `config` says where
 * to export; does nothing otherwise. Call it before building the container, whose queues and workers
 * take `queueTelemetry()`. True when tracing is on.
 */
export function startTracing(config: TracingConfig | undefined, role: TracedProcess): boolean {
  if (config && !sdk) {
    // Required here only: with tracing off, none of the SDK's modules is ever loaded.
    const { startSdk } = require('./tracing-sdk') as typeof import('./tracing-sdk');
    sdk = startSdk(config, role);
  }
  return sdk !== undefined;
}

/**
 * Exports the spans still buffered and stops (graceful shutdown, after the process's own work is done),
 * waiting at most `timeoutMs` for the collector.
 */
export async function stopTracing(timeoutMs = 5000): Promise<void> {
  const running = sdk;
  if (!running) return;
  sdk = undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref()));
  await Promise.race([running.flush(timeoutMs).then(() => running.shutdown()).catch(() => undefined), deadline]);
  clearTimeout(timer);
}

export function tracingOn(): boolean {
  return sdk !== undefined;
}

/** BullMQ's `telemetry` option for queues and workers while tracing is on; undefined (no cost in BullMQ) otherwise. */
export function queueTelemetry(): Telemetry | undefined {
  return sdk?.telemetry;
}

/**
 * Runs `fn` in a span named `name` (the active one while `fn` runs, so the spans it starts are its
 * children): an exception is recorded on it and rethrown, and it ends when `fn` settles.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  // Not an async function: with tracing off, `fn`'s own promise is returned, with no extra tick.
  if (!sdk) return fn(NOT_RECORDING);
  return sdk.tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Adds `attributes` to the active span (values learned once it started); nothing while tracing is off. */
export function annotate(attributes: Attributes): void {
  if (sdk) trace.getActiveSpan()?.setAttributes(attributes);
}

/** Marks `span` failed with `err`. */
export function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** What an HTTP client span is about: the request's method and URL (no credentials are kept from it). */
export type OutgoingRequest = { method: string; url: string } | { method: string; origin: string; path: string };

/**
 * Runs `fn`, which sends `request`, in a client span with the standard HTTP attributes (`http.request.method`,
 * `server.address`, `server.port`, and `url.full` without credentials or query, which may hold phone
 * numbers); `fn` tells the answer's status with `answered`. `attributes` may be a function, called only
 * while tracing is on.
 */
export function withClientSpan<T>(name: string, request: OutgoingRequest, attributes: Attributes | (() => Attributes), fn: (span: Span) => Promise<T>): Promise<T> {
  if (!sdk) return fn(NOT_RECORDING);
  const url = new URL('url' in request ? request.url : request.origin + request.path);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const attrs = {
    'http.request.method': request.method,
    'server.address': url.hostname,
    'server.port': port,
    'url.full': url.origin + url.pathname,
    ...(typeof attributes === 'function' ? attributes() : attributes),
  };
  return withSpan(name, attrs, fn, SpanKind.CLIENT);
}

/** Records an HTTP answer's status on a client span: 4xx and 5xx mark it failed, as OpenTelemetry's HTTP conventions say for clients. */
export function answered(span: Span, status: number): void {
  if (!span.isRecording()) return;
  span.setAttribute('http.response.status_code', status);
  if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
}

/** The parts of an incoming request and its response a server span reads (express's). */
interface ServerExchange {
  method: string;
  path: string;
  res?: { statusCode: number };
}

/**
 * Runs a route's handler in a server span with the standard HTTP attributes (`http.request.method`,
 * `http.route`, `url.path`, `http.response.status_code`). A 5xx marks it failed, whether sent or thrown
 * (the error handler answers an HttpError with its status, bad input being 4xx, and anything else 500).
 */
export function withServerSpan<T>(name: string, req: ServerExchange, route: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!sdk) return fn(NOT_RECORDING);
  const attrs = { 'http.request.method': req.method, 'http.route': route, 'url.path': req.path, ...attributes };
  return sdk.tracer.startActiveSpan(name, { kind: SpanKind.SERVER, attributes: attrs }, async (span) => {
    let status = 0;
    try {
      const result = await fn(span);
      status = req.res?.statusCode ?? 200;
      return result;
    } catch (err) {
      // The error handler answers an HttpError's status (bad input: 4xx), anything else 500.
      status = (err as { status?: number }).status ?? 500;
      if (status >= 500) failed(span, err);
      throw err;
    } finally {
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  });
}
