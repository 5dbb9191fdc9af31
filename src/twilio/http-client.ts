import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import type { RequestClient } from 'twilio';
import { answered, ATTR_CALL_SID, withClientSpan } from '../observability/tracing';

type TwilioRequest = Parameters<RequestClient['request']>[0];
type TwilioResponse = Awaited<ReturnType<RequestClient['request']>>;

const TWILIO_API = 'https://api.twilio.com';
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const AXIOS_ACCEPT = 'application/json, text/plain, */*';

/**
 * A shorter timeout for the Twilio requests made inside `fn`: an action whose deadline is near gives its
 * last request only the time it has left. twilio-node's resources take no per-call timeout, so it travels
 * with the async context instead.
 */
export function withRequestTimeout<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  return requestTimeout.run(Math.max(1, Math.floor(timeoutMs)), fn);
}

const requestTimeout = new AsyncLocalStorage<number>();

/**
 * The call the Twilio requests made inside `fn` are for: the worker runs each call's job under it, so a
 * request whose URL names another call (a warm transfer's person leg) or none (a text) is still logged
 * on the call it was made for.
 */
export function forTwilioCall<T>(callSid: string, fn: () => T): T {
  return requestCall.run(callSid, fn);
}

const requestCall = new AsyncLocalStorage<string>();

/**
 * Calls `onSend` when each Twilio request made inside `fn` is written to its connection, which may be
 * well after it was asked for (no free connection yet, a busy event loop): the placements' rate guard
 * counts a request from when it really left. A throw from `onSend` is ignored.
 */
export function whenSent<T>(onSend: () => void, fn: () => Promise<T>): Promise<T> {
  return requestSent.run(onSend, fn);
}

const requestSent = new AsyncLocalStorage<() => void>();

/** Passes a request's handler through, telling `onSend` when undici starts writing the request. */
class SendNotice implements Dispatcher.DispatchHandler {
  constructor(
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly onSend: () => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    // A throw here would abort the request: whatever the callback does, the request goes.
    try {
      this.onSend();
    } catch {
      // the callback's own failure is its to report
    }
    this.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.handler.onResponseError?.(controller, error);
  }
}

/** One Twilio REST request as a call's log keeps it: no body, no query, no header. */
export interface TwilioRequestEntry {
  /** When it was sent (ISO 8601). */
  at: string;
  method: string;
  /** The URL's path, without its query. */
  path: string;
  /** Twilio's HTTP status; absent when no answer came. */
  status?: number;
  durationMs: number;
  /** Twilio's error code from an error answer (`21211`, `20404`, ...). */
  errorCode?: number;
  /** Why no answer came (a timeout, a refused connection). */
  error?: string;
  /** In the log of a leg the bridge placed or changed for another call (a warm transfer's person): that call. */
  forCall?: string;
}

/** A request seen by the hook, with the call it was for (when one is known). */
export interface ObservedTwilioRequest extends TwilioRequestEntry {
  callSid?: string;
  /** Another call the request placed or changed (a warm transfer's person leg), when it is not `callSid`. */
  otherCallSid?: string;
}

const CALL_IN_PATH = /\/Calls\/(CA[0-9a-fA-F]{32})(?:[./]|$)/;
const CALL_SID_ONLY = /^CA[0-9a-fA-F]{32}$/;

export interface TwilioHttpClientOptions {
  /** Per-request timeout, for the connection, the answer's headers and its body each. */
  timeoutMs: number;
  /** Where requests for https://api.twilio.com go instead (a local stand-in). @defaultValue the real API */
  baseUrl?: string;
  /** @defaultValue a keep-alive undici Agent */
  dispatcher?: Dispatcher;
  /**
   * Told of each request once it has its answer (or failed), with the call it was for: the one
   * `forTwilioCall` names, else the call in its URL, else the call a calls.create made. Must not throw.
   * @defaultValue none
   */
  observe?: (request: ObservedTwilioRequest) => void;
}

/**
 * The http client twilio-node's `httpClient` option takes, over undici's `dispatcher.request()`.
 *
 * It sends what twilio-node's own RequestClient sends (method, path and query, twilio's headers with
 * its User-Agent, Basic auth, the body form-encoded byte for byte as `qs` does) and answers what that
 * client answers (`{statusCode, body, headers}` for every status, the body parsed when it is JSON), so
 * twilio's resources raise the same RestException for an error answer. What it leaves out: retries
 * (twilio's are off by default, and the job queue retries instead), redirects (twilio does not follow
 * them either), and compression (it does not ask, so nothing comes compressed). The difference is the
 * CPU: axios and its interceptors, the https Agent and qs cost several times what the request needs
 * (BENCHMARKS.md).
 */
export class TwilioHttpClient {
  private readonly dispatcher: Dispatcher;
  /** The same connections, telling `whenSent`'s callback when a request is written. */
  private readonly announcing: Dispatcher;
  readonly timeoutMs: number;
  private readonly origin: string | undefined;
  private basic: { user: string; password: string; header: string } | undefined;
  private readonly observe: ((request: ObservedTwilioRequest) => void) | undefined;

  constructor(opts: TwilioHttpClientOptions) {
    this.timeoutMs = opts.timeoutMs;
    this.observe = opts.observe;
    const base = opts.baseUrl?.replace(/\/+$/, '');
    this.origin = base && base !== TWILIO_API ? base : undefined;
    this.dispatcher =
      opts.dispatcher ??
      new Agent({ keepAliveTimeout: 30_000, connect: { timeout: opts.timeoutMs }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
    // The interceptor runs in the asking request's async context, which carries the callback.
    this.announcing = this.dispatcher.compose((dispatch) => (options, handler) => {
      const onSend = requestSent.getStore();
      return dispatch(options, onSend ? new SendNotice(handler, onSend) : handler);
    });
  }

  async request<TData>(opts: TwilioRequest): Promise<TwilioResponse & { body: TData }> {
    if (!this.observe) return this.send<TData>(opts);
    const started = Date.now();
    const context = requestCall.getStore();
    const method = String(opts.method).toUpperCase();
    const path = pathOf(opts.uri);
    const inPath = CALL_IN_PATH.exec(path)?.[1];
    try {
      const res = await this.send<TData>(opts);
      const body = res.body as { code?: unknown; sid?: unknown } | string;
      const json = typeof body === 'object' && body !== null ? body : undefined;
      const created = typeof json?.sid === 'string' && CALL_SID_ONLY.test(json.sid) ? json.sid : undefined;
      const callSid = context ?? inPath ?? created;
      const other = [inPath, created].find((sid) => sid !== undefined && sid !== callSid);
      this.observe({
        at: new Date(started).toISOString(),
        method,
        path,
        status: res.statusCode,
        durationMs: Date.now() - started,
        ...(res.statusCode >= 400 && typeof json?.code === 'number' ? { errorCode: json.code } : {}),
        callSid,
        ...(other ? { otherCallSid: other } : {}),
      });
      return res;
    } catch (err) {
      const e = err as { code?: unknown; name?: string };
      this.observe({
        at: new Date(started).toISOString(),
        method,
        path,
        durationMs: Date.now() - started,
        error: typeof e.code === 'string' ? e.code : (e.name ?? 'Error'),
        callSid: context ?? inPath,
        ...(context && inPath && inPath !== context ? { otherCallSid: inPath } : {}),
      });
      throw err;
    }
  }

  private async send<TData>(opts: TwilioRequest): Promise<TwilioResponse & { body: TData }> {
    // axios's own Accept goes out when twilio sets none (a DELETE).
    const headers: Record<string, string> = { Accept: AXIOS_ACCEPT, ...opts.headers };
    if (opts.username && opts.password) headers.Authorization = this.basicAuth(opts.username, opts.password);
    else if (opts.authStrategy) headers.Authorization = await opts.authStrategy.getAuthString();

    let body: string | undefined;
    if (opts.data) {
      const type = headers['Content-Type'];
      if (type === FORM) body = formEncode(opts.data as Record<string, unknown>);
      else if (type === JSON_TYPE) body = JSON.stringify(opts.data);
    }
    const query = opts.params ? formEncode(opts.params as Record<string, unknown>) : '';
    const { origin, path } = this.target(opts.uri, query);
    const limit = requestTimeout.getStore();
    const timeout = Math.min(opts.timeout ?? this.timeoutMs, limit ?? Infinity);

    const method = opts.method.toUpperCase() as Dispatcher.HttpMethod;
    return withClientSpan(`twilio ${method} ${resourceOf(opts.uri)}`, { method, origin, path }, () => requestAttributes(opts.uri), async (span) => {
      const dispatcher = requestSent.getStore() ? this.announcing : this.dispatcher;
      const res = await dispatcher.request({
        origin,
        path,
        method,
        headers,
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        // The agent's connect timeout is the full one; a shortened request is bounded as a whole.
        ...(limit !== undefined ? { signal: AbortSignal.timeout(timeout) } : {}),
      });
      const parsed = parseBody(await res.body.text()) as TData;
      answered(span, res.statusCode);
      // A call created by this request: its CallSid is known from the answer.
      const created = (parsed as { sid?: unknown } | undefined)?.sid;
      if (span.isRecording() && typeof created === 'string' && created.startsWith('CA')) span.setAttribute(ATTR_CALL_SID, created);
      return { statusCode: res.statusCode, body: parsed, headers: res.headers };
    });
  }

  private basicAuth(user: string, password: string): string {
    if (this.basic?.user !== user || this.basic.password !== password) {
      this.basic = { user, password, header: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
    }
    return this.basic.header;
  }

  /** Splits the URL twilio built into origin and path (with the query), moving the real API's origin to `baseUrl`. */
  private target(uri: string, query: string): { origin: string; path: string } {
    const url = this.origin && uri.startsWith(TWILIO_API) ? this.origin + uri.slice(TWILIO_API.length) : uri;
    const slash = url.indexOf('/', url.indexOf('://') + 3);
    const origin = slash < 0 ? url : url.slice(0, slash);
    let path = slash < 0 ? '/' : url.slice(slash);
    if (query) path += (path.includes('?') ? '&' : '?') + query;
    return { origin, path };
  }
}

/** The path of a URL twilio built, without its origin and query. */
function pathOf(uri: string): string {
  const start = uri.indexOf('/', uri.indexOf('://') + 3);
  if (start < 0) return '/';
  const query = uri.indexOf('?', start);
  return query < 0 ? uri.slice(start) : uri.slice(start, query);
}

/** The REST resource a request is for (`Calls`, `IncomingPhoneNumbers`), a bounded label for metrics and spans. */
export function resourceOf(uri: string): string {
  return /\/Accounts\/AC[0-9a-fA-F]{32}\/([A-Za-z]+)/.exec(uri)?.[1] ?? 'other';
}

/** The call a request is about, when its URL names one (`/Calls/CA…`). */
function requestAttributes(uri: string): Record<string, string> {
  const callSid = /\/Calls\/(CA[0-9a-fA-F]{32})/.exec(uri)?.[1];
  return callSid ? { [ATTR_CALL_SID]: callSid, 'twilio.resource': resourceOf(uri) } : { 'twilio.resource': resourceOf(uri) };
}

/** As axios does for twilio: JSON when it parses, else the text as it came (an empty body stays ''). */
function parseBody(text: string): unknown {
  if (text === '') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * `qs.stringify(data, { arrayFormat: 'repeat' })`, as twilio-node encodes bodies and queries: keys and
 * values percent-encoded as RFC 3986 (only `A-Z a-z 0-9 - . _ ~` left as they are, spaces as %20),
 * arrays as repeated keys, nested objects as `a[b]`, `undefined` skipped, `null` as an empty value,
 * dates as ISO strings.
 */
export function formEncode(data: Record<string, unknown>): string {
  const parts: string[] = [];
  const add = (key: string, value: unknown): void => {
    if (value === undefined) return;
    if (value === null) parts.push(`${encode(key)}=`);
    else if (Array.isArray(value)) for (const item of value) add(key, item);
    else if (value instanceof Date) parts.push(`${encode(key)}=${encode(value.toISOString())}`);
    else if (typeof value === 'object') for (const [k, v] of Object.entries(value)) add(`${key}[${k}]`, v);
    else parts.push(`${encode(key)}=${encode(String(value))}`);
  };
  for (const [key, value] of Object.entries(data)) add(key, value);
  return parts.join('&');
}

const RFC3986_EXTRA = /[!'()*]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * qs's encoder: encodeURIComponent, plus `! ' ( ) *`; a lone surrogate (which encodeURIComponent
 * refuses) becomes U+FFFD, as qs writes it.
 */
function encode(s: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(s);
  } catch {
    encoded = encodeURIComponent(s.replace(LONE_SURROGATE, '\ufffd'));
  }
  return encoded.replace(RFC3986_EXTRA, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
