import RetellSdk from 'retell-sdk';
import { Agent } from 'undici';
import type { Config } from '../config';
import { bufferedFetch } from '../http/buffered-fetch';
import { answered, ATTR_RETELL_CALL_ID, tracingOn, withClientSpan } from '../observability/tracing';

/**
 * The Retell client for the webhook hot path.
 *
 * - `maxRetries: 0`: register sends no idempotency key, so an SDK retry after a timeout can mint a
 *   second, orphaned Retell call; and there is no time for retries inside Twilio's 15 s budget.
 * - A keep-alive undici pool: the TLS handshake to Retell is paid once per connection, not once per call.
 * - `fetch` over undici's dispatcher API (`bufferedFetch`) rather than a WHATWG fetch: registering a
 *   call through the SDK on fetch (Node's built-in one or undici's) costs about three times the CPU,
 *   nearly all of it in Request/Response/stream objects the SDK never needs. See BENCHMARKS.md.
 * - A subclass of the SDK's client whose request headers are worked out once (below).
 */
export function createRetellClient(config: Config['retell']): RetellSdk {
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128, pipelining: 1 });
  return new Retell({
    apiKey: config.apiKey,
    baseURL: config.baseUrl,
    timeout: config.timeoutMs,
    maxRetries: 0,
    fetch: traced(bufferedFetch(dispatcher)),
    logLevel: 'off',
  });
}

/**
 * `fetchImpl`, each request in a client span while tracing is on (`retell POST /v2/register-phone-call`);
 * while it is off, `fetchImpl` itself is called, with no promise of its own in between.
 */
function traced(fetchImpl: typeof fetch): typeof fetch {
  return ((input: string | URL | Request, init?: RequestInit) => (tracingOn() ? tracedFetch(fetchImpl, input, init) : fetchImpl(input, init))) as typeof fetch;
}

function tracedFetch(fetchImpl: typeof fetch, input: string | URL | Request, init: RequestInit | undefined): Promise<Response> {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
  const method = (init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET')).toUpperCase();
  const callId = /\/(call_[A-Za-z0-9]+)/.exec(url.pathname)?.[1];
  return withClientSpan(`retell ${method} ${pathTemplate(url.pathname)}`, { method, url: url.href }, callId ? { [ATTR_RETELL_CALL_ID]: callId } : {}, async (span) => {
    const res = await fetchImpl(input, init);
    answered(span, res.status);
    return res;
  });
}

/** A path with its ids as `{id}` (`/v2/get-call/{id}`), so spans of the same operation share a name. */
function pathTemplate(path: string): string {
  return path.replace(/\/(call_[A-Za-z0-9]+|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]{15,})(?=\/|$)/g, '/{id}');
}

type BuiltRequest = Awaited<ReturnType<RetellSdk['buildRequest']>>;
type FinalRequestOptions = Parameters<RetellSdk['buildRequest']>[0];

/**
 * The SDK's client, but for a JSON POST (every call the bridge makes on the webhook path) the request's
 * headers are built by the SDK once per (timeout, retry count) and reused: the SDK otherwise merges
 * six header sources into a WHATWG `Headers` and validates it on every call. The bytes sent are the
 * SDK's own, tested against the stock client (tests/retell/client.test.ts); anything else (a query,
 * per-request headers, a non-JSON body, an idempotency header) goes through the SDK's own path.
 * Written for retell-sdk 5.66.x, whose version package.json pins. Named Retell because the SDK puts
 * the class's name in the User-Agent.
 */
class Retell extends RetellSdk {
  readonly #headers = new Map<string, Record<string, string>>();

  override async buildRequest(options: FinalRequestOptions, { retryCount = 0 }: { retryCount?: number } = {}): Promise<BuiltRequest> {
    const body = options.body;
    const plainJson =
      options.method === 'post' &&
      !options.query &&
      !options.headers &&
      !options.fetchOptions &&
      !this.idempotencyHeader &&
      body !== null &&
      typeof body === 'object' &&
      Object.getPrototypeOf(body) === Object.prototype;
    if (!plainJson) return super.buildRequest(options, { retryCount });
    const timeout = options.timeout ?? this.timeout;
    const key = `${timeout}|${retryCount}`;
    const headers = this.#headers.get(key);
    if (!headers) {
      const built = await super.buildRequest(options, { retryCount });
      this.#headers.set(key, Object.fromEntries((built.req.headers as Headers).entries()));
      return built;
    }
    return {
      // A plain object: bufferedFetch (the fetch this client is built with) reads it as it is.
      req: { method: 'post', headers: headers as unknown as Headers, body: JSON.stringify(body), ...(options.signal ? { signal: options.signal } : {}) },
      url: this.buildURL(options.path, undefined, options.defaultBaseURL),
      timeout,
    };
  }
}
