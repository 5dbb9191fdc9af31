/**
 * Fault case 6: a sweep of bad input at every webhook endpoint: random bytes, truncated and oversized
 * bodies, wrong content types and encodings, duplicate keys, unicode, huge numbers of parameters,
 * broken HTTP framing, replayed signatures. Each is refused with a 4xx (or, when it is in fact a valid
 * request with odd content, answered normally); never a 5xx, never a crash, and the same process keeps
 * serving real calls afterwards.
 *
 * Endpoints are entries in TARGETS, each with its sender's signing scheme and its own probes, so the
 * Retell endpoints join by adding entries.
 */
import { gzipSync } from 'node:zlib';
import { getExpectedTwilioSignature } from 'twilio';
import { PUBLIC_URL, RETELL_KEY } from '../support/bridge';
import { AUTH_TOKEN, newCallSid, voiceParams } from '../support/twilio-signing';
import { FaultyRetell } from './support/faulty-retell';
import { rawRequest } from './support/raw-http';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { dialedCallId, isCallTwiml } from './support/webhooks';

/** What a probe must get back. */
type Expect =
  /** exactly this status */
  | number
  /** any 4xx */
  | '4xx'
  /** a valid request with unusual content: 200, or a 4xx if the endpoint refuses the content */
  | '200-or-4xx'
  /** broken framing: a 4xx, or the connection closed without an answer */
  | '4xx-or-closed';

interface Outcome {
  status: number;
  body: string;
}

interface Probe {
  name: string;
  expect: Expect;
  send(web: WebProcess): Promise<Outcome>;
  /** Further checks on the outcome (e.g. a replay registered nothing new). */
  check?(outcome: Outcome): void | Promise<void>;
}

/** An endpoint under the sweep. */
interface SweepTarget {
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
}

// ---------------------------------------------------------------------------------------------------
// Shared machinery

let redis: RedisServer;
let retell: FaultyRetell;
let web: WebProcess;

/** A small deterministic PRNG, so a failing random probe can be reproduced from its name. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(seed: number, length: number): Buffer {
  const next = rng(seed);
  return Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

const ODD = ['=', '&', '%', '%ZZ', '%E2%82', '+', '[]', '[0]', '\u0000', 'é', '€', '😀', '\u202e', '\ud800', 'a'.repeat(300), '__proto__', 'CallSid'];
function randomForm(seed: number): string {
  const next = rng(seed);
  const pick = () => ODD[Math.floor(next() * ODD.length)]!;
  const parts = Array.from({ length: 1 + Math.floor(next() * 40) }, () => `${pick()}${next() < 0.7 ? '=' : ''}${pick()}${pick()}`);
  return parts.join(next() < 0.8 ? '&' : ';');
}

async function post(web: WebProcess, path: string, body: string | Buffer | ReadableStream | undefined, headers: Record<string, string>): Promise<Outcome> {
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

/** Probes that apply to any endpoint, built from its valid body and its signer. */
function commonProbes(t: SweepTarget): Probe[] {
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

  probes.push({
    name: 'Content-Length promises more than is sent, then the client stops sending',
    expect: '4xx-or-closed',
    send: async (w) => {
      const b = t.validBody();
      const head = `POST ${t.path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${t.contentType}\r\nContent-Length: ${b.length + 500}\r\n`;
      const signature = Object.entries(t.sign(b)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const r = await rawRequest(w.port, `${head}${signature}\r\n${b}`, { halfClose: true });
      return { status: r.status, body: r.raw };
    },
  });
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
  probes.push({
    name: 'a declared 64 MiB body that never comes (the connection is held, others are still served)',
    expect: '4xx-or-closed',
    send: async (w) => {
      const stalled = rawRequest(
        w.port,
        `POST ${t.path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${t.contentType}\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n${'x'.repeat(1024)}`,
        { timeoutMs: 1500 },
      );
      const meanwhile = await fetch(`${w.url}/healthz`, { signal: AbortSignal.timeout(5000) });
      expect(meanwhile.status).toBe(200);
      const r = await stalled;
      return { status: r.status, body: r.raw };
    },
  });
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
      expect: '200-or-4xx',
      send: (w) => {
        const b = t.validBody();
        // Signed for the URL as it goes on the wire (percent-encoded), as the sender configured it.
        const sent = new URL(w.url + t.path + query);
        return post(w, t.path + query, b, { 'content-type': t.contentType, ...t.sign(b, { path: sent.pathname + sent.search }) });
      },
    });
  }
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
    probes.push({
      name: `method ${method}`,
      expect: '4xx',
      send: async (w) => {
        const res = await fetch(w.url + t.path, { method, signal: AbortSignal.timeout(5000) });
        return { status: res.status, body: await res.text() };
      },
    });
  }
  probes.push({
    name: 'the signature header 10 KiB long',
    expect: 403,
    send: (w) => post(w, t.path, t.validBody(), { 'content-type': t.contentType, 'x-twilio-signature': 'A'.repeat(10 * 1024) }),
  });
  return probes;
}

// ---------------------------------------------------------------------------------------------------
// Endpoints

const formOf = (params: Record<string, string | string[]>) => {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  return form.toString();
};

/**
 * Twilio signs the URL it calls plus the form parameters it sends (sorted, repeated keys in order); a
 * body the server does not read as a form contributes no parameters.
 */
function twilioSign(path: string, body: string, contentType = 'application/x-www-form-urlencoded'): Record<string, string> {
  const params = Object.create(null) as Record<string, string | string[]>;
  const isForm = contentType.split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded';
  for (const [k, v] of isForm ? new URLSearchParams(body) : []) {
    const had = params[k];
    params[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return { 'x-twilio-signature': getExpectedTwilioSignature(AUTH_TOKEN, PUBLIC_URL + path, params) };
}

function twilioTarget(name: string, path: string, params: () => Record<string, string>, specific: (sign: (p: Record<string, string | string[]>) => { body: string; headers: Record<string, string> }) => Probe[]): SweepTarget {
  const contentType = 'application/x-www-form-urlencoded';
  const sendParams = (p: Record<string, string | string[]>) => {
    const body = formOf(p);
    return { body, headers: { 'content-type': contentType, ...twilioSign(path, body) } };
  };
  return {
    name,
    path,
    contentType,
    validBody: () => formOf(params()),
    sign: (body, opts = {}) => twilioSign(opts.path ?? path, body, opts.contentType ?? contentType),
    probes: () => specific(sendParams),
  };
}

const signedForm = (
  name: string,
  expect: Expect,
  path: string,
  build: () => Record<string, string | string[]>,
  sign: (p: Record<string, string | string[]>) => { body: string; headers: Record<string, string> },
): Probe => ({
  name,
  expect,
  send: (w) => {
    const { body, headers } = sign(build());
    return post(w, path, body, headers);
  },
});

const without = (p: Record<string, string>, key: string) => {
  const { [key]: _drop, ...rest } = p;
  return rest;
};

const twilioVoice = twilioTarget('Twilio voice webhook', '/twilio/voice', () => voiceParams(), (sign) => {
  const path = '/twilio/voice';
  const probes: Probe[] = [];
  for (const field of ['CallSid', 'AccountSid', 'From', 'To']) {
    probes.push(signedForm(`signed, without ${field}`, 400, path, () => without(voiceParams(), field), sign));
    probes.push(signedForm(`signed, ${field} twice`, 400, path, () => {
      const p = voiceParams();
      return { ...p, [field]: [p[field]!, field === 'CallSid' ? newCallSid() : p[field]!] };
    }, sign));
  }
  probes.push(signedForm('signed, Direction twice', 400, path, () => ({ ...voiceParams(), Direction: ['inbound', 'outbound-api'] }), sign));
  for (const [what, sid] of [
    ['lowercase prefix', `ca${'0'.repeat(32)}`],
    ['fullwidth digits', `CA${'０'.repeat(32)}`],
    ['33 hex digits', `CA${'a'.repeat(33)}`],
    ['a huge number', '1e309'],
    ['an array-looking key', 'CA[]'],
  ] as const) {
    probes.push(signedForm(`signed, CallSid as ${what}`, 400, path, () => voiceParams({ CallSid: sid }), sign));
  }
  probes.push(signedForm('signed, another account', 400, path, () => voiceParams({ AccountSid: `AC${'9'.repeat(32)}` }), sign));
  probes.push(signedForm('signed, To of 10,000 digits', 400, path, () => voiceParams({ To: '9'.repeat(10_000) }), sign));
  probes.push(signedForm('signed, CallerName of 10 KiB of unicode', 400, path, () => voiceParams({ CallerName: '😀'.repeat(2500) }), sign));
  for (const [what, from] of [
    ['emoji', '😀📞'],
    ['right-to-left text', '\u202eمرحبا'],
    ['combining marks', 'Z̵̢̛a̸l̷g̶o'],
    ['a NUL byte', 'a\u0000b'],
    ['a lone surrogate', 'x\ud800y'],
    ['XML markup', '</Sip><Dial>+19005550000</Dial>'],
  ] as const) {
    probes.push({
      ...signedForm(`signed, From with ${what} (a valid call)`, '200-or-4xx', path, () => voiceParams({ From: from, Caller: from, CallerName: from }), sign),
      check: (o) => {
        // Accepted means a real answer: the call is dialed, and the odd text never leaks into the TwiML.
        if (o.status === 200) expect(dialedCallId(o.body)).toBeDefined();
        expect(o.body).not.toContain('+19005550000');
      },
    });
  }
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    probes.push(signedForm(`signed, with an extra parameter named ${key}`, '200-or-4xx', path, () => ({ ...voiceParams(), [key]: 'x' }), sign));
  }

  // Twilio's signatures carry no timestamp: a replayed request is indistinguishable from Twilio's own
  // retry, so it gets the stored answer and never registers the call again.
  const original = voiceParams();
  let first: Outcome | undefined;
  probes.push({
    name: 'a replay of an answered webhook, exactly as signed',
    expect: 200,
    send: async (w) => {
      const { body, headers } = sign(original);
      first = await post(w, path, body, headers);
      for (let i = 0; i < 3; i++) await post(w, path, body, headers);
      return post(w, path, body, headers);
    },
    check: (o) => {
      expect(o.body).toBe(first?.body);
      expect(retell.registrationsFor(original.CallSid!)).toHaveLength(1);
    },
  });
  probes.push({
    name: 'an old signature on a new CallSid',
    expect: 403,
    send: (w) => {
      const { headers } = sign(original);
      return post(w, path, formOf({ ...original, CallSid: newCallSid() }), headers);
    },
  });
  probes.push({
    name: 'an old signature replayed to another endpoint',
    expect: 403,
    send: (w) => {
      const { body, headers } = sign(original);
      return post(w, '/twilio/dial-action', body, headers);
    },
  });
  return probes;
});

const dialParams = () => ({ ...voiceParams(), DialCallStatus: 'completed', DialCallSid: newCallSid() });
const twilioDialAction = twilioTarget('Twilio dial action', '/twilio/dial-action', dialParams, (sign) => {
  const path = '/twilio/dial-action';
  return [
    signedForm('signed, without CallSid', 400, path, () => without(dialParams(), 'CallSid'), sign),
    signedForm('signed, CallSid twice', 400, path, () => ({ ...dialParams(), CallSid: [newCallSid(), newCallSid()] }), sign),
    signedForm('signed, DialCallStatus twice', 400, path, () => ({ ...dialParams(), DialCallStatus: ['failed', 'completed'] }), sign),
    signedForm('signed, DialCallStatus of 1,000 characters', 400, path, () => ({ ...dialParams(), DialCallStatus: 'x'.repeat(1000) }), sign),
    signedForm('signed, DialCallStatus in unicode', '200-or-4xx', path, () => ({ ...dialParams(), DialCallStatus: 'échoué😀' }), sign),
    signedForm('signed, for a call the bridge never saw', 200, path, () => dialParams(), sign),
  ];
});

/**
 * Every endpoint the sweep covers. The Retell endpoints (POST /retell/functions,
 * /retell/functions/transfer_call, /retell/functions/end_call, /retell/webhook) join as entries whose
 * `sign` makes X-Retell-Signature and whose probes include signatures replayed from outside Retell's
 * timestamp window.
 */
const TARGETS: SweepTarget[] = [twilioVoice, twilioDialAction];

// ---------------------------------------------------------------------------------------------------

beforeAll(async () => {
  redis = await RedisServer.start();
  retell = await new FaultyRetell(RETELL_KEY).start();
  web = await WebProcess.start({ REDIS_URL: redis.url, REDIS_PREFIX: 'faults-input', RETELL_BASE_URL: retell.url });
});
afterAll(async () => {
  await web?.dispose();
  await retell?.stop();
  await redis?.dispose();
});

function meets(expected: Expect, status: number): boolean {
  if (typeof expected === 'number') return status === expected;
  if (expected === '4xx') return status >= 400 && status < 500;
  if (expected === '200-or-4xx') return status === 200 || (status >= 400 && status < 500);
  return status === 0 || (status >= 400 && status < 500);
}

describe.each(TARGETS.map((t) => [t.name, t] as const))('when the %s gets bad input', (_name, target) => {
  const probes = [...commonProbes(target), ...target.probes()];

  it.each(probes.map((p) => [p.name, p] as const))('%s: then it is refused (or answered) without a 5xx, and the process keeps serving', async (_what, probe) => {
    const outcome = await probe.send(web);
    // SWEEP_DEBUG=1 lists what every probe got back, e.g. when adding an endpoint to TARGETS.
    if (process.env.SWEEP_DEBUG) process.stderr.write(`SWEEP ${target.name} | ${probe.name} -> ${outcome.status} ${outcome.body.slice(0, 80).replace(/\s+/g, ' ')}\n`);
    expect({ status: outcome.status, ok: meets(probe.expect, outcome.status) }).toEqual({ status: outcome.status, ok: true });
    expect(outcome.status < 500).toBe(true);
    await probe.check?.(outcome);
    expect(web.alive).toBe(true);
  });

  it('then, after the sweep, the same process still answers a real call and never logged a server error', async () => {
    const params = voiceParams();
    const body = formOf(params);
    const res = await post(web, '/twilio/voice', body, { 'content-type': 'application/x-www-form-urlencoded', ...twilioSign('/twilio/voice', body) });
    expect(isCallTwiml({ status: res.status, body: res.body, contentType: 'text/xml', callSid: params.CallSid!, startedAt: 0, elapsedMs: 0 })).toBe(true);
    expect(dialedCallId(res.body)).toBe(retell.registrationsFor(params.CallSid!)[0]);
    expect(web.alive).toBe(true);
    const serverErrors = web.records().filter((r) => r.level === 'fatal' || r.msg === 'request failed' || String(r.msg).includes('unexpectedly'));
    expect(serverErrors).toEqual([]);
  });
});

describe('when From or To is longer than the 256 characters the voice webhook allows', () => {
  // The length check carries its own message; without one it inherited "must be present, once".
  it.each(['From', 'To'])('then it is refused with a 400 that names the length as the problem (%s)', async (field) => {
    const params = voiceParams({ [field]: '+1'.padEnd(300, '5') });
    const body = formOf(params);
    const res = await post(web, '/twilio/voice', body, { 'content-type': 'application/x-www-form-urlencoded', ...twilioSign('/twilio/voice', body) });
    expect(res.status).toBe(400);
    expect(res.body).not.toContain('must be present');
    expect(res.body).toMatch(new RegExp(`${field}.*256`));
  });
});
