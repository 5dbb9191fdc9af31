/**
 * The probe framework of the bad-input sweep: what a probe expects, how it is sent, and the probes that
 * apply to any endpoint whatever its sender (framing, size, content type, encoding, random bytes).
 * Each endpoint under the sweep is a SweepTarget with its own signer and probes (bad-input.test.ts).
 */
import { gzipSync } from 'node:zlib';
import { rawRequest } from './raw-http';
import type { WebProcess } from './web-process';

/** What a probe must get back. */
export type Expect =
  /** exactly this status */
  | number
  /** any 4xx */
  | '4xx'
  /** a valid request with unusual content: 200, or a 4xx if the endpoint refuses the content */
  | '200-or-4xx'
  /** the same, for endpoints whose success is another 2xx (Retell's webhook answers 204) */
  | '2xx-or-4xx'
  /** broken framing: a 4xx, or the connection closed without an answer */
  | '4xx-or-closed';

export interface Outcome {
  status: number;
  body: string;
}

export interface Probe {
  name: string;
  expect: Expect;
  send(web: WebProcess): Promise<Outcome>;
  /** Further checks on the outcome (e.g. a replay registered nothing new). */
  check?(outcome: Outcome): void | Promise<void>;
}

/** An endpoint under the sweep. */
export interface SweepTarget {
  name: string;
  path: string;
  contentType: string;
  /** A fresh body the endpoint accepts. */
  validBody(): string;
  /**
   * Headers that make `body` authentic for `path` (as the request line carries it), as the endpoint's
   * real sender would sign what the server will read from a body of `contentType`.
   */
  sign(body: string, opts?: { path?: string; contentType?: string }): Record<string, string>;
  /** Probes only this endpoint understands: authentic but malformed requests, duplicates, replays. */
  probes(): Probe[];
  /** False for endpoints whose body is not a form: they bring their own framing, size and type probes. */
  common?: false;
  /** A real request after the sweep, which the same process must still serve (default: a voice webhook). */
  afterSweep?(web: WebProcess): Promise<void>;
  /** What an authentic request gets: 200 TwiML, or 204 for a callback answered with no body. @defaultValue 200 */
  success?: 200 | 204;
}

/** A small deterministic PRNG, so a failing random probe can be reproduced from its name. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(seed: number, length: number): Buffer {
  const next = rng(seed);
  return Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

const ODD = ['=', '&', '%', '%ZZ', '%E2%82', '+', '[]', '[0]', '\u0000', 'é', '€', '😀', '\u202e', '\ud800', 'a'.repeat(300), '__proto__', 'CallSid'];
export function randomForm(seed: number): string {
  const next = rng(seed);
  const pick = () => ODD[Math.floor(next() * ODD.length)]!;
  const parts = Array.from({ length: 1 + Math.floor(next() * 40) }, () => `${pick()}${next() < 0.7 ? '=' : ''}${pick()}${pick()}`);
  return parts.join(next() < 0.8 ? '&' : ';');
}

export async function post(web: WebProcess, path: string, body: string | Buffer | ReadableStream | undefined, headers: Record<string, string>): Promise<Outcome> {
  try {
    const res = await fetch(web.url + path, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(15_000),
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: String((err as { cause?: unknown }).cause ?? err) };
  }
}

/** A signed request whose Content-Length promises 500 bytes more than are sent before the client stops. */
export function promisesMoreProbe(t: SweepTarget): Probe {
  return {
    name: 'Content-Length promises more than is sent, then the client stops sending',
    expect: '4xx-or-closed',
    send: async (w) => {
      const b = t.validBody();
      const head = `POST ${t.path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${t.contentType}\r\nContent-Length: ${b.length + 500}\r\n`;
      const signature = Object.entries(t.sign(b)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const r = await rawRequest(w.port, `${head}${signature}\r\n${b}`, { halfClose: true });
      return { status: r.status, body: r.raw };
    },
  };
}

/** A declared 64 MiB body of which 1 KiB comes; meanwhile the process must still serve others. */
export function neverArrivesProbe(t: SweepTarget, headers: Record<string, string> = {}): Probe {
  return {
    name: 'a declared 64 MiB body that never comes (the connection is held, others are still served)',
    expect: '4xx-or-closed',
    send: async (w) => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const stalled = rawRequest(
        w.port,
        `POST ${t.path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${t.contentType}\r\nContent-Length: ${64 * 1024 * 1024}\r\n${extra}\r\n${'x'.repeat(1024)}`,
        { timeoutMs: 1500 },
      );
      const meanwhile = await fetch(`${w.url}/healthz`, { signal: AbortSignal.timeout(5000) });
      expect(meanwhile.status).toBe(200);
      const r = await stalled;
      return { status: r.status, body: r.raw };
    },
  };
}

/** The endpoint's path asked with other methods than POST: refused with a 4xx. */
export function methodProbes(t: SweepTarget, methods: string[]): Probe[] {
  return methods.map((method) => ({
    name: `method ${method}`,
    expect: '4xx',
    send: async (w) => {
      const res = await fetch(w.url + t.path, { method, signal: AbortSignal.timeout(5000) });
      return { status: res.status, body: await res.text() };
    },
  }));
}

/** Probes that apply to any endpoint, built from its valid body and its signer. */
export function commonProbes(t: SweepTarget): Probe[] {
  const signed = (name: string, expect: Expect, body: () => string, extra: Record<string, string> = {}): Probe => ({
    name,
    expect,
    send: (w) => {
      const b = body();
      return post(w, t.path, b, { 'content-type': t.contentType, ...t.sign(b), ...extra });
    },
  });
  const probes: Probe[] = [];

  for (let seed = 1; seed <= 8; seed++) {
    probes.push({
      name: `random bytes #${seed}, unsigned`,
      expect: '4xx',
      send: (w) => post(w, t.path, randomBytes(seed, 50 + seed * 300), { 'content-type': t.contentType }),
    });
    probes.push({
      name: `random bytes #${seed}, signed as received`,
      expect: '4xx',
      send: (w) => {
        const bytes = randomBytes(seed + 100, 50 + seed * 300);
        return post(w, t.path, bytes, { 'content-type': t.contentType, ...t.sign(bytes.toString('utf8')) });
      },
    });
    probes.push(signed(`random form #${seed}, signed`, '4xx', () => randomForm(seed)));
  }

  for (const [what, cut] of [['to a quarter', 0.25], ['by half', 0.5], ['by its last byte', -1]] as const) {
    probes.push({
      name: `body truncated ${what} after signing`,
      expect: '4xx',
      send: (w) => {
        const b = t.validBody();
        const sent = cut < 0 ? b.slice(0, cut) : b.slice(0, Math.floor(b.length * cut));
        return post(w, t.path, sent, { 'content-type': t.contentType, ...t.sign(b) });
      },
    });
  }

  probes.push(promisesMoreProbe(t));
  probes.push({
    name: 'Content-Length shorter than the body (the rest looks like a second request)',
    expect: '4xx-or-closed',
    send: async (w) => {
      const b = t.validBody();
      const r = await rawRequest(
        w.port,
        `POST ${t.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${t.contentType}\r\nContent-Length: 10\r\n\r\n${b}`,
      );
      return { status: r.status, body: r.raw };
    },
  });

  probes.push(signed('a body just over 64 KiB', 413, () => `${t.validBody()}&Padding=${'x'.repeat(64 * 1024)}`));
  probes.push(signed('a 1 MiB body', 413, () => `${t.validBody()}&Padding=${'x'.repeat(1024 * 1024)}`));
  probes.push({
    name: 'a 16 MiB body sent in full',
    expect: 413,
    send: (w) => post(w, t.path, Buffer.alloc(16 * 1024 * 1024, 0x61) as unknown as string, { 'content-type': t.contentType }),
  });
  probes.push(neverArrivesProbe(t));
  probes.push({
    name: 'a chunked body without Content-Length that grows past the limit',
    expect: 413,
    send: (w) => {
      let sent = 0;
      const chunk = new TextEncoder().encode(`a=${'x'.repeat(16 * 1024)}&`);
      const stream = new ReadableStream({
        pull(controller) {
          if (sent++ >= 40) controller.close();
          else controller.enqueue(chunk);
        },
      });
      return post(w, t.path, stream, { 'content-type': t.contentType });
    },
  });
  probes.push({
    name: 'a gzip bomb (10 MiB of zeros in a few KiB)',
    // Twilio never compresses webhooks: refused as an encoding (415) or, if decoded, for its size (413).
    expect: '4xx',
    send: (w) => post(w, t.path, gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x30)) as unknown as string, { 'content-type': t.contentType, 'content-encoding': 'gzip' }),
  });
  probes.push(signed('Content-Encoding gzip on a body that is not gzip', '4xx', () => t.validBody(), { 'content-encoding': 'gzip' }));
  probes.push(signed('an unknown Content-Encoding', 415, () => t.validBody(), { 'content-encoding': 'x-unknown' }));

  for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/xml']) {
    probes.push({
      name: `Content-Type ${type}, signed for what the server reads from it`,
      expect: '4xx',
      send: (w) => {
        const b = t.validBody();
        return post(w, t.path, b, { 'content-type': type, ...t.sign(b, { contentType: type }) });
      },
    });
  }
  probes.push(signed('the right type with charset utf-16', 415, () => t.validBody(), { 'content-type': `${t.contentType}; charset=utf-16` }));
  probes.push(signed('the right type with an unknown charset', 415, () => t.validBody(), { 'content-type': `${t.contentType}; charset=x-klingon` }));
  probes.push({
    name: 'no Content-Type at all',
    expect: '4xx',
    send: async (w) => {
      const b = t.validBody();
      const sig = Object.entries(t.sign(b, { contentType: '' })).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const r = await rawRequest(w.port, `POST ${t.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${b.length}\r\n${sig}\r\n${b}`);
      return { status: r.status, body: r.raw };
    },
  });

  probes.push(signed('501 parameters', 413, () => `${t.validBody()}${'&p=1'.repeat(501)}`));
  probes.push(signed('10,000 parameters', 413, () => 'p=&'.repeat(10_000)));
  probes.push(signed('100,000 empty parameters', 413, () => '&'.repeat(100_000)));

  probes.push({
    name: 'a header line 20 KiB long',
    expect: 431,
    send: async (w) => {
      const r = await rawRequest(w.port, `POST ${t.path} HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\nContent-Length: 0\r\n\r\n`);
      return { status: r.status, body: r.raw };
    },
  });
  probes.push({
    name: 'a malformed chunk size',
    expect: '4xx-or-closed',
    send: async (w) => {
      const r = await rawRequest(w.port, `POST ${t.path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${t.contentType}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`);
      return { status: r.status, body: r.raw };
    },
  });
  probes.push({
    name: 'both Content-Length and chunked (request smuggling shape)',
    expect: '4xx-or-closed',
    send: async (w) => {
      const r = await rawRequest(
        w.port,
        `POST ${t.path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${t.contentType}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      return { status: r.status, body: r.raw };
    },
  });
  probes.push({
    name: 'a header value with control bytes',
    expect: '4xx-or-closed',
    send: async (w) => {
      const r = await rawRequest(w.port, Buffer.from(`POST ${t.path} HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: a\u0001\u0000b\r\nContent-Length: 0\r\n\r\n`, 'latin1'));
      return { status: r.status, body: r.raw };
    },
  });
  probes.push({
    name: 'a request line that is not HTTP',
    expect: '4xx-or-closed',
    send: async (w) => {
      const r = await rawRequest(w.port, randomBytes(7, 400));
      return { status: r.status, body: r.raw };
    },
  });

  for (const query of ['?a=%ZZ', `?q=${'x'.repeat(8 * 1024)}`, '?ü=😀&a[b]=1&a[b]=2']) {
    probes.push({
      name: `a signed webhook URL with query ${JSON.stringify(query.slice(0, 24))}`,
      expect: t.success === 204 ? '2xx-or-4xx' : '200-or-4xx',
      send: (w) => {
        const b = t.validBody();
        // Signed for the URL as it goes on the wire (percent-encoded), as the sender configured it.
        const sent = new URL(w.url + t.path + query);
        return post(w, t.path + query, b, { 'content-type': t.contentType, ...t.sign(b, { path: sent.pathname + sent.search }) });
      },
    });
  }
  probes.push(...methodProbes(t, ['GET', 'PUT', 'DELETE', 'PATCH']));
  probes.push({
    name: 'the signature header 10 KiB long',
    expect: 403,
    send: (w) => post(w, t.path, t.validBody(), { 'content-type': t.contentType, 'x-twilio-signature': 'A'.repeat(10 * 1024) }),
  });
  return probes;
}

/** Whether `status` is what the probe expected. */
export function meets(expected: Expect, status: number): boolean {
  if (typeof expected === 'number') return status === expected;
  if (expected === '4xx') return status >= 400 && status < 500;
  if (expected === '200-or-4xx') return status === 200 || (status >= 400 && status < 500);
  if (expected === '2xx-or-4xx') return (status >= 200 && status < 300) || (status >= 400 && status < 500);
  return status === 0 || (status >= 400 && status < 500);
}
