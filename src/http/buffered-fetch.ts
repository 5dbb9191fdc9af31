import { fetch as undiciFetch, type Dispatcher } from 'undici';

type FetchInput = string | URL | Request;

/**
 * A `fetch` for SDKs that send small string or byte bodies and read the whole answer: one
 * `dispatcher.request()`, the body read to the end before the promise settles, and a small
 * Response-like object over the result.
 *
 * What it keeps of fetch: method, headers, body, `signal` (aborting it, as the SDK does when its
 * per-request timeout fires, rejects with an `AbortError`, during the body too, so the timeout covers
 * the whole exchange), and connection errors rejecting. What it leaves out: redirects are not followed
 * and nothing is decompressed (Retell's API does neither to a client that does not ask). Requests it
 * does not handle (a `Request` object, a streamed or FormData body) go to undici's own fetch on the
 * same dispatcher.
 */
export function bufferedFetch(dispatcher: Dispatcher): typeof fetch {
  const fallback = (input: FetchInput, init?: RequestInit) => {
    // A Request made by Node's own fetch is not one of this undici's, which would read it as a URL
    // string; its parts are passed instead.
    const fromRequest =
      typeof input === 'object' && !(input instanceof URL)
        ? { method: input.method, headers: input.headers, body: input.body, signal: input.signal, duplex: 'half' }
        : {};
    const url = typeof input === 'object' && !(input instanceof URL) ? input.url : input;
    return undiciFetch(url, {
      ...fromRequest,
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher,
    } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>;
  };

  const bufferedFetchImpl = async (input: FetchInput, init: RequestInit = {}): Promise<Response> => {
    const body = init.body;
    const simpleBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    if (typeof input === 'object' && !(input instanceof URL)) return fallback(input, init);
    if (!simpleBody) return fallback(input, init);

    const url = typeof input === 'string' ? input : input.href;
    const { origin, path } = splitUrl(url);
    const res = await dispatcher.request({
      origin,
      path,
      method: (init.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod,
      headers: toHeaderList(init.headers),
      body: (body ?? null) as string | Uint8Array | null,
      signal: init.signal ?? undefined,
    });
    // Read to the end: the socket goes back to the pool, and an abort while the body is still
    // arriving rejects here, inside the SDK's timeout.
    const text = await res.body.text();
    return new BufferedResponse(url, res.statusCode, res.headers, text) as unknown as Response;
  };
  return bufferedFetchImpl as typeof fetch;
}

function splitUrl(url: string): { origin: string; path: string } {
  const afterScheme = url.indexOf('://');
  const slash = afterScheme < 0 ? -1 : url.indexOf('/', afterScheme + 3);
  if (afterScheme < 0) throw new TypeError(`Invalid URL: ${url}`);
  if (slash < 0) return { origin: url, path: '/' };
  return { origin: url.slice(0, slash), path: url.slice(slash) };
}

/** Headers as undici's flat [name, value, name, value, ...] list, however the caller gave them (the SDK gives a `Headers`). */
function toHeaderList(headers: RequestInit['headers']): string[] {
  const out: string[] = [];
  if (!headers) return out;
  if (Array.isArray(headers)) {
    for (const [name, value] of headers) out.push(name!, value!);
  } else if (typeof (headers as Headers).forEach === 'function' && typeof (headers as Headers).get === 'function') {
    (headers as Headers).forEach((value, name) => out.push(name, value));
  } else {
    for (const [name, value] of Object.entries(headers as Record<string, string>)) out.push(name, value);
  }
  return out;
}

/** Read-only response headers over undici's lower-cased header object. */
class BufferedHeaders {
  readonly #raw: Record<string, string | string[] | undefined>;

  constructor(raw: Record<string, string | string[] | undefined>) {
    this.#raw = raw;
  }

  get(name: string): string | null {
    const v = this.#raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }

  has(name: string): boolean {
    return this.#raw[name.toLowerCase()] !== undefined;
  }

  forEach(cb: (value: string, name: string, parent: BufferedHeaders) => void): void {
    for (const [name, value] of this.entries()) cb(value, name, this);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.#raw).sort()) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/** The parts of a fetch `Response` that an SDK reads, over a body that has already arrived in full. */
class BufferedResponse {
  readonly ok: boolean;
  readonly statusText = '';
  readonly redirected = false;
  readonly type = 'basic';
  readonly headers: BufferedHeaders;
  readonly #rawHeaders: Record<string, string | string[] | undefined>;
  readonly #text: string;
  #used = false;

  constructor(
    readonly url: string,
    readonly status: number,
    rawHeaders: Record<string, string | string[] | undefined>,
    text: string,
  ) {
    this.ok = status >= 200 && status <= 299;
    this.headers = new BufferedHeaders(rawHeaders);
    this.#rawHeaders = rawHeaders;
    this.#text = text;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  /** A stream over the buffered body, made only for a caller that asks for one. */
  get body(): ReadableStream<Uint8Array> | null {
    return new Response(this.#text).body;
  }

  private take(): string {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#text;
  }

  async text(): Promise<string> {
    return this.take();
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.take());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = Buffer.from(this.take());
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  clone(): BufferedResponse {
    if (this.#used) throw new TypeError('Response.clone: Body has already been consumed');
    return new BufferedResponse(this.url, this.status, this.#rawHeaders, this.#text);
  }
}
