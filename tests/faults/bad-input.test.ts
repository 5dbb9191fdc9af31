/**
 * Fault case 6: a sweep of bad input at every webhook endpoint: random bytes, truncated and oversized
 * bodies, wrong content types and encodings, duplicate keys, unicode, huge numbers of parameters,
 * broken HTTP framing, replayed signatures. Each is refused with a 4xx (or, when it is in fact a valid
 * request with odd content, answered normally); never a 5xx, never a crash, and the same process keeps
 * serving real calls afterwards.
 *
 * Endpoints are entries in TARGETS, each with its sender's signing scheme and its own probes: Twilio's
 * form webhooks and Retell's JSON functions and call events.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { getExpectedTwilioSignature } from 'twilio';
import { PUBLIC_URL, RETELL_KEY } from '../support/bridge';
import { CallRepository } from '../../src/calls/repository';
import { functionCallBody, signAt } from '../support/retell-signing';
import { ACCOUNT_SID as ACCOUNT_SID_OF_TESTS, AUTH_TOKEN, newCallSid, voiceParams } from '../support/twilio-signing';
import { TRANSFER_ENV } from './support/call-actions';
import { FaultyRetell } from './support/faulty-retell';
import { rawRequest } from './support/raw-http';
import { RedisServer } from './support/redis-server';
import { WebProcess } from './support/web-process';
import { FUNCTION_BODY_LIMIT_BYTES } from '../../src/retell/functions';
import { WEBHOOK_BODY_LIMIT_BYTES } from '../../src/features/lifecycle/routes';
import { commonProbes, meets, methodProbes, neverArrivesProbe, post, promisesMoreProbe, randomBytes, type Expect, type Outcome, type Probe, type SweepTarget } from './support/probes';
import { dialedCallId, isCallTwiml } from './support/webhooks';

// ---------------------------------------------------------------------------------------------------
// The web process under the sweep

const INPUT_PREFIX = 'faults-input';
let redis: RedisServer;
let retell: FaultyRetell;
let web: WebProcess;

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

// ---------------------------------------------------------------------------------------------------
// Retell endpoints: X-Retell-Signature (HMAC of the raw body and a millisecond timestamp, ±5 minutes),
// JSON bodies, body limits of 2 MiB (functions) and 4 MiB (webhook, which carries transcripts), read
// only behind a fresh, well-formed signature header.

const MIB = 1024 * 1024;

function retellSign(body: string | Buffer, at = Date.now(), apiKey = RETELL_KEY): Record<string, string> {
  return { 'x-retell-signature': signAt(body, at, apiKey) };
}

/** Makes a live call the web process knows (a signed voice webhook), returning Retell's call id for it. */
async function knownCall(w: WebProcess): Promise<{ callSid: string; callId: string }> {
  const params = voiceParams();
  const body = formOf(params);
  const res = await post(w, '/twilio/voice', body, { 'content-type': 'application/x-www-form-urlencoded', ...twilioSign('/twilio/voice', body) });
  const callId = retell.registrationsFor(params.CallSid!)[0];
  if (res.status !== 200 || !callId) throw new Error(`voice webhook answered ${res.status}`);
  return { callSid: params.CallSid!, callId };
}

/** Probes for an endpoint Retell signs; `body(overrides)` builds a JSON value it accepts. */
function retellProbes(t: SweepTarget, limitBytes: number, shapes: Array<[string, () => unknown, Expect?]>): Probe[] {
  const send = (w: WebProcess, body: string | Buffer, headers: Record<string, string> = {}, path = t.path) =>
    post(w, path, body, { 'content-type': 'application/json', ...headers });
  const signedJson = (name: string, expect: Expect, value: () => unknown, check?: Probe['check']): Probe => ({
    name,
    expect,
    send: (w) => {
      const b = JSON.stringify(value());
      return send(w, b, retellSign(b));
    },
    ...(check ? { check } : {}),
  });
  const signedRaw = (name: string, expect: Expect, raw: () => string | Buffer, headers: Record<string, string> = {}): Probe => ({
    name,
    expect,
    send: (w) => {
      const b = raw();
      return send(w, b, { ...retellSign(b), ...headers });
    },
  });
  const refused = (o: Outcome) => expect(o.body).toContain('Retell signature');
  const probes: Probe[] = [];

  // Authenticity: nothing without a valid, current signature over these exact bytes reaches the handler.
  const fiveMinutes = 5 * 60 * 1000;
  const sigCases: Array<[string, (b: string) => Record<string, string>]> = [
    ['unsigned', () => ({})],
    ['an empty signature header', () => ({ 'x-retell-signature': '' })],
    ['a garbage signature', () => ({ 'x-retell-signature': 'garbage' })],
    ['a signature with a non-hex digest', () => ({ 'x-retell-signature': `v=${Date.now()},d=${'z'.repeat(64)}` })],
    ['a signature with a short digest', () => ({ 'x-retell-signature': `v=${Date.now()},d=abcd` })],
    ['a signature 10 KiB long', () => ({ 'x-retell-signature': `v=${Date.now()},d=${'a'.repeat(10 * 1024)}` })],
    ['a signature made with another API key', (b) => retellSign(b, Date.now(), 'key_someone_else')],
    ['a signature for another body', () => retellSign(t.validBody())],
    ['a replayed signature 5 minutes and 10 seconds old', (b) => retellSign(b, Date.now() - fiveMinutes - 10_000)],
    ['a replayed signature a day old', (b) => retellSign(b, Date.now() - 24 * 3600 * 1000)],
    ['a signature dated 5 minutes and 10 seconds ahead', (b) => retellSign(b, Date.now() + fiveMinutes + 10_000)],
    ['a signature in seconds instead of milliseconds', (b) => retellSign(b, Math.floor(Date.now() / 1000))],
    ['a signature with its timestamp changed after signing', (b) => ({ 'x-retell-signature': retellSign(b)['x-retell-signature']!.replace(/^v=\d+/, `v=${Date.now() - 1000}`) })],
  ];
  for (const [what, headers] of sigCases) {
    probes.push({
      name: `a valid body with ${what}`,
      expect: 401,
      send: (w) => {
        const b = t.validBody();
        return send(w, b, headers(b));
      },
      check: refused,
    });
  }
  probes.push({
    name: 'a request signed by Retell, replayed byte for byte to another Retell endpoint',
    expect: '2xx-or-4xx',
    send: (w) => {
      const b = t.validBody();
      // Retell's signature does not name the URL: a replay elsewhere is still Retell's body, and it is
      // judged by that endpoint's own rules (a 4xx for a shape it does not take).
      return send(w, b, retellSign(b), t.path === '/retell/webhook' ? '/retell/functions/end_call' : '/retell/webhook');
    },
  });
  probes.push({
    name: 'a valid body with the signature header twice',
    expect: '4xx',
    send: async (w) => {
      const b = t.validBody();
      const sig = retellSign(b)['x-retell-signature'];
      const r = await rawRequest(
        w.port,
        `POST ${t.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\nX-Retell-Signature: ${sig}\r\nX-Retell-Signature: ${sig}\r\n\r\n${b}`,
      );
      return { status: r.status, body: r.raw };
    },
  });

  // Bytes that are not a JSON object, signed as sent (as if Retell had a bug) and unsigned.
  for (let seed = 1; seed <= 4; seed++) {
    probes.push({ name: `random bytes #${seed}, unsigned`, expect: 401, send: (w) => send(w, randomBytes(seed + 200, 50 + seed * 500)) });
    probes.push(signedRaw(`random bytes #${seed}, signed as sent`, 400, () => randomBytes(seed + 300, 50 + seed * 500)));
  }
  for (const [what, cut] of [['to a quarter', 0.25], ['by half', 0.5], ['by its last byte', -1]] as const) {
    const part = (b: string) => (cut < 0 ? b.slice(0, cut) : b.slice(0, Math.floor(b.length * cut)));
    probes.push({
      name: `JSON truncated ${what} after signing`,
      expect: 401,
      send: (w) => {
        const b = t.validBody();
        return send(w, part(b), retellSign(b));
      },
    });
    probes.push(signedRaw(`JSON truncated ${what}, signed as sent`, 400, () => part(t.validBody())));
  }
  probes.push(signedRaw('an empty body, signed', 400, () => ''));
  probes.push(signedRaw('a byte-order mark before the JSON, signed', '4xx', () => `\ufeff${t.validBody()}`));
  probes.push(signedRaw('JSON with a trailing comma, signed', 400, () => t.validBody().replace(/}$/, ',}')));
  probes.push(signedRaw('two JSON documents back to back, signed', 400, () => `${t.validBody()}${t.validBody()}`));
  probes.push(signedRaw('invalid UTF-8 inside a JSON string, signed', '4xx', () => Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')])));
  for (const [what, value] of [['null', null], ['a string', 'transfer_call'], ['a number', 42], ['true', true], ['an empty array', []], ['an empty object', {}]] as const) {
    probes.push(signedJson(`the JSON value ${what}, signed`, 400, () => value));
  }
  probes.push(signedJson('an array holding a valid body, signed', 400, () => [JSON.parse(t.validBody())]));
  probes.push(signedRaw('the valid body nested 100,000 objects deep, signed', 400, () => `${'{"a":'.repeat(100_000)}${t.validBody()}${'}'.repeat(100_000)}`));
  probes.push(signedRaw('arrays nested 100,000 deep, signed', 400, () => `${'['.repeat(100_000)}${']'.repeat(100_000)}`));
  // JSON.parse reads any depth, but serialising or walking such a value overflows the stack: refused
  // as soon as it is parsed, with the reason, before any handler sees it.
  const withDeepField = (levels: number) => `${t.validBody().slice(0, -1)},"extra":${'{"d":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}}`;
  for (const levels of [5_000, 10_000]) {
    probes.push({
      ...signedRaw(`the valid body with a field nested ${levels.toLocaleString('en-US')} deep, signed`, 400, () => withDeepField(levels)),
      check: (o) => expect(o.body).toBe('the body nests more than 64 levels deep (in extra)'),
    });
  }
  probes.push({
    // The body itself is level 1, so its field may hold 63.
    ...signedRaw('the valid body with a field nested 63 deep (the body 64), signed', '2xx-or-4xx', () => withDeepField(63)),
    check: (o) => expect(o.body).not.toContain('levels deep'),
  });
  probes.push(signedJson('100,000 top-level keys, signed', '4xx', () => Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))));
  probes.push(signedRaw('keys named __proto__ and constructor, signed', '4xx', () => `{"__proto__":{"call":{"call_id":"x"},"event":"call_started"},"constructor":{"prototype":{"polluted":1}}}`));
  probes.push(signedRaw('numbers beyond double precision, signed', '4xx', () => `{"name":1e400,"event":-1e400,"call":{"call_id":123456789012345678901234567890}}`));

  for (const [what, value, expected] of shapes) probes.push(signedJson(what, expected ?? 400, value));

  // Size: a fresh, well-formed signature header earns a read, within the limit; an unsigned request is
  // refused before its body is read, and its connection closed (so the client may see only the close).
  probes.push(signedRaw(`a body 1 byte over the ${limitBytes / MIB} MiB limit, signed`, 413, () => `${t.validBody().slice(0, -1)},"pad":"${'x'.repeat(limitBytes)}"}`.slice(0, limitBytes + 1)));
  probes.push({ name: 'a 16 MiB body sent in full, unsigned', expect: '4xx-or-closed', send: (w) => send(w, Buffer.alloc(16 * MIB, 0x61)) });
  probes.push({
    name: 'a chunked body without Content-Length that grows past the limit, signed',
    expect: 413,
    send: (w) => {
      let sent = 0;
      const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
      const stream = new ReadableStream({
        pull(controller) {
          if (sent++ >= (limitBytes + MIB) / (64 * 1024)) controller.close();
          else controller.enqueue(chunk);
        },
      });
      return post(w, t.path, stream, { 'content-type': 'application/json', ...retellSign('{}') });
    },
  });
  probes.push({
    name: 'a gzip bomb (16 MiB of zeros in a few KiB), unsigned',
    expect: '4xx-or-closed',
    send: (w) => send(w, gzipSync(Buffer.alloc(16 * MIB, 0x30)), { 'content-encoding': 'gzip' }),
  });
  probes.push(signedRaw('a gzip bomb (16 MiB of zeros in a few KiB), signed as sent', 415, () => gzipSync(Buffer.alloc(16 * MIB, 0x30)), { 'content-encoding': 'gzip' }));
  probes.push(signedRaw('Content-Encoding gzip on a body that is not gzip', '4xx', () => t.validBody(), { 'content-encoding': 'gzip' }));
  probes.push(signedRaw('an unknown Content-Encoding', 415, () => t.validBody(), { 'content-encoding': 'x-unknown' }));
  probes.push(neverArrivesProbe(t), promisesMoreProbe(t));

  // Content types: Retell sends application/json, but the signature, not the header, makes a body
  // authentic, so a signed body is judged on its bytes whatever it is labelled; unsigned, it is refused.
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json; charset=utf-16']) {
    probes.push({ name: `Content-Type ${type}, unsigned`, expect: 401, send: (w) => send(w, t.validBody(), { 'content-type': type }) });
    probes.push(signedRaw(`Content-Type ${type}, signed`, '2xx-or-4xx', () => t.validBody(), { 'content-type': type }));
  }
  probes.push(signedRaw('a form body labelled as a form, signed', 400, () => 'name=transfer_call&call[call_id]=x', { 'content-type': 'application/x-www-form-urlencoded' }));
  probes.push(...methodProbes(t, ['GET', 'PUT', 'DELETE']));
  return probes;
}

const unknownCallId = () => `call_unknown_${randomUUID()}`;

/** Shapes every function endpoint refuses: `call` and `args` of the wrong types or sizes. */
type AgentFunctionName = 'transfer_call' | 'end_call' | 'warm_transfer' | 'send_sms' | 'pause_recording' | 'do_not_call';

/** Arguments each function accepts. */
const validArgs = (name: AgentFunctionName): Record<string, unknown> =>
  name === 'transfer_call'
    ? { destination: 'sales' }
    : name === 'warm_transfer'
      ? { destination: 'sales', summary: 'Ada wants an upgrade.' }
      : name === 'send_sms'
        ? { template: 'booking', variables: { name: 'Ada' } }
        : {};

/** The job id prefix of each function's action. */
const JOB_PREFIX: Readonly<Record<AgentFunctionName, string>> = {
  transfer_call: 'transfer',
  end_call: 'end_call',
  warm_transfer: 'warm_transfer',
  send_sms: 'send_sms',
  pause_recording: 'pause_recording',
  do_not_call: 'do_not_call',
};

function functionShapes(name: AgentFunctionName): Array<[string, () => unknown, Expect?]> {
  const valid = (args: Record<string, unknown> = validArgs(name)) => functionCallBody(name, unknownCallId(), args);
  const withCall = (call: unknown) => ({ ...valid(), call });
  const withArgs = (args: unknown) => ({ ...valid(), args });
  const shapes: Array<[string, () => unknown, Expect?]> = [
    ['signed, without call ("payload: args only")', () => ({ name, args: valid().args })],
    ['signed, call as a string', () => withCall('call_123')],
    ['signed, call as an array', () => withCall([valid().call])],
    ['signed, call_id missing', () => withCall({ from_number: '+14155550199' })],
    ['signed, call_id as a number', () => withCall({ call_id: 42 })],
    ['signed, call_id empty', () => withCall({ call_id: '' })],
    ['signed, call_id of 10,000 characters', () => withCall({ call_id: 'c'.repeat(10_000) })],
    ['signed, from_number of 10,000 characters', () => withCall({ call_id: unknownCallId(), from_number: '+1'.padEnd(10_000, '5') })],
    ['signed, args as an array', () => withArgs([1, 2])],
    ['signed, args as a string', () => withArgs('sales')],
    ['signed, args as null', () => withArgs(null)],
    ...(name !== 'transfer_call' && name !== 'end_call'
      ? []
      : ([
          ['signed, message as a number', () => valid({ ...valid().args, message: 42 })],
          ['signed, message of 10,000 characters', () => valid({ ...valid().args, message: 'm'.repeat(10_000) })],
        ] as Array<[string, () => unknown]>)),
    ['signed, for a call the bridge never saw', () => valid(), 404],
    ['signed, call_id in unicode for a call the bridge never saw', () => withCall({ call_id: '通话😀\u202e\u0000' }), 404],
  ];
  if (name === 'warm_transfer') {
    const args = validArgs(name);
    shapes.push(
      ['signed, args without destination', () => valid({ summary: args.summary })],
      ['signed, destination as a number', () => valid({ ...args, destination: 14155550101 })],
      ['signed, destination blank', () => valid({ ...args, destination: '   ' })],
      ['signed, args without summary', () => valid({ destination: 'sales' })],
      ['signed, summary as a number', () => valid({ ...args, summary: 42 })],
      ['signed, summary as an object', () => valid({ ...args, summary: { text: 'x' } })],
      ['signed, summary of control characters only', () => valid({ ...args, summary: '\u0000\u0007\u001b' })],
      ['signed, summary of 10,000 characters', () => valid({ ...args, summary: 's'.repeat(10_000) })],
      ['signed, args with 100,000 keys', () => valid(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])))],
    );
  }
  if (name === 'send_sms') {
    const args = validArgs(name);
    shapes.push(
      ['signed, args without template', () => valid({ variables: { name: 'Ada' } })],
      ['signed, template as a number', () => valid({ ...args, template: 7 })],
      ['signed, template blank', () => valid({ ...args, template: '   ' })],
      ['signed, template of 10,000 characters', () => valid({ ...args, template: 't'.repeat(10_000) })],
      ['signed, variables as an array', () => valid({ ...args, variables: ['Ada'] })],
      ['signed, variables as a string', () => valid({ ...args, variables: 'name=Ada' })],
      ['signed, to as a number', () => valid({ ...args, to: 14155550199 })],
      ['signed, to of 10,000 characters', () => valid({ ...args, to: '+1'.padEnd(10_000, '5') })],
      // Refused with a sentence before the call is even looked up: nothing about the call is needed to say no.
      ['signed, a template that is not configured', () => valid({ ...args, template: 'constructor' }), 422],
      ['signed, a variable of control characters', () => valid({ ...args, variables: { name: '\u0000\u0007\u001b' } }), 422],
      ['signed, a variable of 10,000 characters', () => valid({ ...args, variables: { name: 'n'.repeat(10_000) } }), 422],
      ['signed, a variable nested as an object', () => valid({ ...args, variables: { name: { first: 'Ada' } } }), 422],
      ['signed, variables with 100,000 keys', () => valid({ ...args, variables: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])) }), 422],
    );
  }
  if (name === 'transfer_call') {
    shapes.push(
      ['signed, args without destination', () => valid({})],
      ['signed, destination as a number', () => valid({ destination: 14155550101 })],
      ['signed, destination as an object', () => valid({ destination: { name: 'sales' } })],
      ['signed, destination as an array', () => valid({ destination: ['sales'] })],
      ['signed, destination null', () => valid({ destination: null })],
      ['signed, destination blank', () => valid({ destination: '   ' })],
      ['signed, destination of 10,000 characters', () => valid({ destination: 's'.repeat(10_000) })],
      ['signed, caller_id not caller or business', () => valid({ destination: 'sales', caller_id: '+19005550000' })],
      ['signed, caller_id as a boolean', () => valid({ destination: 'sales', caller_id: true })],
      ['signed, args with 100,000 keys', () => valid(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])))],
    );
  }
  return shapes;
}

function retellFunctionTarget(name: string, path: string, fn: AgentFunctionName, extra: Array<[string, () => unknown, Expect?]> = []): SweepTarget {
  const target: SweepTarget = {
    name,
    path,
    contentType: 'application/json',
    common: false,
    // A function call for a call the bridge never saw: authentic and well-formed, answered 404.
    validBody: () => JSON.stringify(functionCallBody(fn, unknownCallId(), validArgs(fn))),
    sign: (body) => retellSign(body),
    probes: () => [
      ...retellProbes(target, FUNCTION_BODY_LIMIT_BYTES, [...functionShapes(fn), ...extra]),
      {
        name: 'signed, metadata nested 100,000 deep for a call the bridge never saw',
        expect: 400,
        check: (o) => expect(o.body).toBe('the body nests more than 64 levels deep (in call)'),
        send: (w) => {
          const b = `{"name":"${fn}","args":${JSON.stringify(validArgs(fn))},"call":{"call_id":"${unknownCallId()}","metadata":${'{"m":'.repeat(100_000)}{}${'}'.repeat(100_000)}}}`;
          return post(w, path, b, { 'content-type': 'application/json', ...retellSign(b) });
        },
      },
      {
        name: 'signed, an argument nested 10,000 deep for a call the bridge knows',
        expect: 400,
        check: (o) => expect(o.body).toBe('the body nests more than 64 levels deep (in args)'),
        send: async (w) => {
          const { callId } = await knownCall(w);
          const args = JSON.stringify(validArgs(fn)).slice(0, -1);
          const b = `{"name":"${fn}","args":${args}${args.length > 1 ? ',' : ''}"note":${'{"n":'.repeat(10_000)}{}${'}'.repeat(10_000)}},"call":{"call_id":"${callId}"}}`;
          return post(w, path, b, { 'content-type': 'application/json', ...retellSign(b) });
        },
      },
    ],
    afterSweep: async (w) => {
      const { callSid, callId } = await knownCall(w);
      const b = JSON.stringify(functionCallBody(fn, callId, validArgs(fn)));
      const res = await post(w, path, b, { 'content-type': 'application/json', ...retellSign(b) });
      expect(res.status).toBe(200);
      // do_not_call is done at once, without a job.
      if (fn === 'do_not_call') expect(JSON.parse(res.body)).toMatchObject({ status: 'done' });
      else expect(JSON.parse(res.body)).toMatchObject({ status: 'queued', job_id: `${JOB_PREFIX[fn]}-${callSid}-1` });
    },
  };
  return target;
}

const retellFunctions = retellFunctionTarget('Retell function dispatcher (POST /retell/functions)', '/retell/functions', 'transfer_call', [
  ['signed, without name', () => ({ ...functionCallBody('x', unknownCallId(), { destination: 'sales' }), name: undefined })],
  ['signed, name of a function that does not exist', () => functionCallBody('delete_everything', unknownCallId(), {})],
  ['signed, name as a number', () => ({ ...functionCallBody('x', unknownCallId(), {}), name: 42 })],
  ['signed, name as an array of a real name', () => ({ ...functionCallBody('x', unknownCallId(), {}), name: ['end_call'] })],
  ['signed, name toString (an Object.prototype member)', () => functionCallBody('toString', unknownCallId(), {})],
  ['signed, name __proto__', () => functionCallBody('__proto__', unknownCallId(), {})],
  ['signed, name of 10,000 characters', () => functionCallBody('t'.repeat(10_000), unknownCallId(), {})],
]);
const retellTransfer = retellFunctionTarget('Retell transfer_call function', '/retell/functions/transfer_call', 'transfer_call');
const retellEndCall = retellFunctionTarget('Retell end_call function', '/retell/functions/end_call', 'end_call');
const retellWarmTransfer = retellFunctionTarget('Retell warm_transfer function', '/retell/functions/warm_transfer', 'warm_transfer');
const retellSendSms = retellFunctionTarget('Retell send_sms function', '/retell/functions/send_sms', 'send_sms');
const retellPauseRecording = retellFunctionTarget('Retell pause_recording function', '/retell/functions/pause_recording', 'pause_recording');
const retellDoNotCall = retellFunctionTarget('Retell do_not_call function', '/retell/functions/do_not_call', 'do_not_call');

const webhookEvent = (event: unknown, call: Record<string, unknown> = {}) => ({ event, call: { call_id: unknownCallId(), call_type: 'phone_call', ...call } });
const retellWebhook: SweepTarget = {
  name: 'Retell call-event webhook',
  path: '/retell/webhook',
  contentType: 'application/json',
  common: false,
  // A call_started for a call the bridge never saw: authentic and well-formed, answered 204.
  validBody: () => JSON.stringify(webhookEvent('call_started', { start_timestamp: Date.now() })),
  sign: (body) => retellSign(body),
  probes: () =>
    retellProbes(retellWebhook, WEBHOOK_BODY_LIMIT_BYTES, [
      ['signed, without event', () => ({ call: { call_id: unknownCallId() } })],
      ['signed, event as a number', () => webhookEvent(1)],
      ['signed, event of 10,000 characters', () => webhookEvent('e'.repeat(10_000))],
      ['signed, without call', () => ({ event: 'call_ended' })],
      ['signed, call as an array', () => ({ event: 'call_ended', call: [] })],
      ['signed, call_id as an object', () => ({ event: 'call_ended', call: { call_id: { $ne: null } } })],
      ['signed, start_timestamp as text', () => webhookEvent('call_started', { start_timestamp: 'yesterday' })],
      ['signed, duration_ms as a string', () => webhookEvent('call_ended', { duration_ms: '100' })],
      ['signed, call_analysis as a string', () => webhookEvent('call_analyzed', { call_analysis: 'good' })],
      ['signed, call_successful as a string', () => webhookEvent('call_analyzed', { call_analysis: { call_successful: 'yes' } })],
      ['signed, an event the bridge does not use, in unicode', () => webhookEvent('通话_😀'), 204],
      ['signed, a call_analyzed with a 3 MiB transcript for a call the bridge never saw', () => webhookEvent('call_analyzed', { transcript: 'w'.repeat(3 * MIB) }), 204],
    ]).concat({
      name: 'signed, a call_analyzed for a call the bridge knows, with custom analysis data nested 10,000 deep',
      expect: 400,
      send: async (w) => {
        const { callId } = await knownCall(w);
        const b = `{"event":"call_analyzed","call":{"call_id":"${callId}","call_analysis":{"call_successful":true,"custom_analysis_data":${'{"c":'.repeat(10_000)}{}${'}'.repeat(10_000)}}}}`;
        return post(w, '/retell/webhook', b, { 'content-type': 'application/json', ...retellSign(b) });
      },
      check: (o) => expect(o.body).toBe('the body nests more than 64 levels deep (in call)'),
    }),
  afterSweep: async (w) => {
    const { callSid, callId } = await knownCall(w);
    const b = JSON.stringify(webhookEvent('call_started', { call_id: callId, start_timestamp: Date.now() }));
    const res = await post(w, '/retell/webhook', b, { 'content-type': 'application/json', ...retellSign(b) });
    expect(res.status).toBe(204);
    const direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      expect(await new CallRepository(direct, INPUT_PREFIX).get(callSid)).toMatchObject({ state: 'in-progress' });
    } finally {
      direct.disconnect();
    }
  },
};

// ---------------------------------------------------------------------------------------------------
// Outbound calls: Twilio's requests about a call the bridge placed (signed forms, each URL carrying the
// call's id), and the API the user's backend calls (a bearer token, JSON).

/** An outbound id the bridge never issued: authentic requests about it are answered, and change nothing. */
const UNKNOWN_OUTBOUND = `out_${'0'.repeat(32)}`;
const outboundPath = (route: 'answer' | 'status' | 'amd', id = UNKNOWN_OUTBOUND) => `/twilio/outbound/${route}?o=${id}`;

function outboundIdProbes(route: 'answer' | 'status' | 'amd', params: () => Record<string, string>, sign: (p: Record<string, string | string[]>) => { body: string; headers: Record<string, string> }): Probe[] {
  const signedFor = (path: string, p: Record<string, string>) => {
    const body = formOf(p);
    return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...twilioSign(path, body) } };
  };
  return [
    {
      name: 'signed, without the o parameter',
      expect: 400,
      send: (w) => {
        const { body, headers } = signedFor(`/twilio/outbound/${route}`, params());
        return post(w, `/twilio/outbound/${route}`, body, headers);
      },
    },
    ...['CA123', 'out_xyz', `out_${'A'.repeat(32)}`, `out_${'0'.repeat(33)}`].map((id) => ({
      name: `signed, o=${id}`,
      expect: 400 as Expect,
      send: (w: WebProcess) => {
        const { body, headers } = signedFor(outboundPath(route, id), params());
        return post(w, outboundPath(route, id), body, headers);
      },
    })),
    {
      name: 'a signature for another outbound id',
      expect: 403,
      send: (w) => {
        const { body, headers } = sign(params());
        return post(w, outboundPath(route, `out_${'1'.repeat(32)}`), body, headers);
      },
    },
  ];
}

const outboundVoiceParams = () => voiceParams({ Direction: 'outbound-api', CallStatus: 'in-progress', From: '+14155550100', To: '+14155550199' });
const twilioOutboundAnswer = twilioTarget('Twilio outbound answer URL', outboundPath('answer'), outboundVoiceParams, (sign) => [
  signedForm('signed, without CallSid', 400, outboundPath('answer'), () => without(outboundVoiceParams(), 'CallSid'), sign),
  signedForm('signed, another account', 400, outboundPath('answer'), () => ({ ...outboundVoiceParams(), AccountSid: `AC${'9'.repeat(32)}` }), sign),
  {
    ...signedForm('signed, for an outbound call the bridge never placed', 200, outboundPath('answer'), outboundVoiceParams, sign),
    // Nothing to connect the callee to: hung up, and nothing registered.
    check: (o) => expect(o.body).toContain('<Hangup/>'),
  },
  ...outboundIdProbes('answer', outboundVoiceParams, sign),
]);

const outboundStatusParams = () => ({
  ...outboundVoiceParams(),
  CallStatus: 'ringing',
  Timestamp: new Date().toUTCString(),
  SequenceNumber: '1',
  CallbackSource: 'call-progress-events',
});
const twilioOutboundStatus = twilioTarget('Twilio outbound status callback', outboundPath('status'), outboundStatusParams, (sign) => [
  signedForm('signed, without CallStatus', 400, outboundPath('status'), () => without(outboundStatusParams(), 'CallStatus'), sign),
  signedForm('signed, CallStatus twice', 400, outboundPath('status'), () => ({ ...outboundStatusParams(), CallStatus: ['ringing', 'completed'] }), sign),
  signedForm('signed, Timestamp that is no date', 204, outboundPath('status'), () => ({ ...outboundStatusParams(), Timestamp: 'yesterday-ish' }), sign),
  signedForm('signed, CallDuration of 1,000 digits', 400, outboundPath('status'), () => ({ ...outboundStatusParams(), CallStatus: 'completed', CallDuration: '9'.repeat(1000) }), sign),
  signedForm('signed, for an outbound call the bridge never placed', 204, outboundPath('status'), outboundStatusParams, sign),
  ...outboundIdProbes('status', outboundStatusParams, sign),
]);

const amdParams = () => ({ AccountSid: ACCOUNT_SID_OF_TESTS, CallSid: newCallSid(), AnsweredBy: 'machine_start', MachineDetectionDuration: '2100' });
const twilioOutboundAmd = twilioTarget('Twilio outbound AMD callback', outboundPath('amd'), amdParams, (sign) => [
  signedForm('signed, AnsweredBy not one of Twilio\'s verdicts', 400, outboundPath('amd'), () => ({ ...amdParams(), AnsweredBy: 'robot' }), sign),
  signedForm('signed, AnsweredBy twice', 400, outboundPath('amd'), () => ({ ...amdParams(), AnsweredBy: ['human', 'machine_start'] }), sign),
  signedForm('signed, without CallSid', 400, outboundPath('amd'), () => without(amdParams(), 'CallSid'), sign),
  signedForm('signed, for an outbound call the bridge never placed', 204, outboundPath('amd'), amdParams, sign),
  ...outboundIdProbes('amd', amdParams, sign),
]);

/** A form signed for `path` (which may differ from where it is sent). */
const signedFormFor = (path: string, p: Record<string, string>) => {
  const body = formOf(p);
  return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...twilioSign(path, body) } };
};

/** A warm transfer the bridge never started: authentic requests about it are answered, and change nothing. */
const UNKNOWN_TRANSFER = `warm_transfer-CA${'0'.repeat(32)}-1`;
const warmPath = (route: 'gather' | 'status', id = UNKNOWN_TRANSFER) => `/twilio/warm-transfer/${route}?x=${id}`;
const gatherParams = () => ({ AccountSid: ACCOUNT_SID_OF_TESTS, CallSid: newCallSid(), CallStatus: 'in-progress', Digits: '1' });
const twilioWarmGather = twilioTarget('Twilio warm transfer gather', warmPath('gather'), gatherParams, (sign) => [
  signedForm('signed, without CallSid', 400, warmPath('gather'), () => without(gatherParams(), 'CallSid'), sign),
  signedForm('signed, Digits twice', 400, warmPath('gather'), () => ({ ...gatherParams(), Digits: ['1', '1'] }), sign),
  signedForm('signed, Digits of 1,000 characters', 400, warmPath('gather'), () => ({ ...gatherParams(), Digits: '1'.repeat(1000) }), sign),
  {
    ...signedForm('signed, the accept key for a transfer the bridge never started', 200, warmPath('gather'), gatherParams, sign),
    check: (o) => expect(o.body).toContain('<Hangup/>'),
  },
  {
    name: 'signed, an id that is not a warm transfer id',
    expect: 400,
    send: (w) => {
      const { body, headers } = signedFormFor('/twilio/warm-transfer/gather?x=CA1', gatherParams());
      return post(w, '/twilio/warm-transfer/gather?x=CA1', body, headers);
    },
  },
  {
    name: 'a signature for another transfer id',
    expect: 403,
    send: (w) => {
      const { body, headers } = signedFormFor(warmPath('gather'), gatherParams());
      return post(w, warmPath('gather', `warm_transfer-CA${'1'.repeat(32)}-1`), body, headers);
    },
  },
]);
const warmStatusParams = () => ({ AccountSid: ACCOUNT_SID_OF_TESTS, CallSid: newCallSid(), CallStatus: 'no-answer' });
const twilioWarmStatus = twilioTarget('Twilio warm transfer status callback', warmPath('status'), warmStatusParams, (sign) => [
  signedForm('signed, without CallStatus', 400, warmPath('status'), () => without(warmStatusParams(), 'CallStatus'), sign),
  signedForm('signed, CallStatus twice', 400, warmPath('status'), () => ({ ...warmStatusParams(), CallStatus: ['busy', 'completed'] }), sign),
  signedForm('signed, for a transfer the bridge never started', 204, warmPath('status'), warmStatusParams, sign),
]);
const referParams = () => ({ ...voiceParams({ CallStatus: 'in-progress' }), ReferTransferTarget: '<tel:+14155550101>' });
const twilioRefer = twilioTarget('Twilio REFER URL', '/twilio/refer', referParams, (sign) => [
  signedForm('signed, without ReferTransferTarget', 400, '/twilio/refer', () => without(referParams(), 'ReferTransferTarget'), sign),
  signedForm('signed, ReferTransferTarget twice', 400, '/twilio/refer', () => ({ ...referParams(), ReferTransferTarget: ['tel:+14155550101', 'tel:+19005550199'] }), sign),
  signedForm('signed, ReferTransferTarget of 10,000 characters', 400, '/twilio/refer', () => ({ ...referParams(), ReferTransferTarget: `tel:+1${'5'.repeat(10_000)}` }), sign),
  ...(
    [
      ['a premium number', '<tel:+19005550199>'],
      ['a SIP URI elsewhere', '<sip:attacker@evil.example.com>'],
      ['XML markup', '<tel:+14155550101></Number><Number>+19005550199>'],
      ['unicode', 'tel:+1415555０101😀'],
    ] as const
  ).map(([what, target]) => ({
    ...signedForm(`signed, a target that is ${what}`, 200, '/twilio/refer', () => ({ ...referParams(), ReferTransferTarget: target }), sign),
    // Refused: the fallback, never a <Dial> to what the REFER asked for.
    check: (o: Outcome) => expect(o.body).not.toMatch(/<Number>|<Sip>|9005550199|evil/),
  })),
  {
    ...signedForm('signed, an allowed target', 200, '/twilio/refer', referParams, sign),
    check: (o) => expect(o.body).toContain('<Number>+14155550101</Number>'),
  },
]);

/** The consent question of a call the bridge never registered: authentic answers get the agent's <Dial>, unrecorded or not. */
const consentPath = (c = 'call_sweep0', r = 'dual') => `/twilio/recording/consent?c=${c}&r=${r}`;
const consentParams = () => ({ AccountSid: ACCOUNT_SID_OF_TESTS, CallSid: newCallSid(), CallStatus: 'in-progress', Digits: '2' });
const twilioRecordingConsent = twilioTarget('Twilio recording consent', consentPath(), consentParams, (sign) => [
  signedForm('signed, without CallSid', 400, consentPath(), () => without(consentParams(), 'CallSid'), sign),
  signedForm('signed, Digits twice', 400, consentPath(), () => ({ ...consentParams(), Digits: ['1', '2'] }), sign),
  signedForm('signed, SpeechResult of 10,000 characters', 400, consentPath(), () => ({ ...consentParams(), SpeechResult: 'yes '.repeat(2500) }), sign),
  {
    ...signedForm('signed, a refusal for a call the bridge never registered', 200, consentPath(), consentParams, sign),
    check: (o) => expect(o.body).toMatch(/^<\?xml[^>]*><Response><Dial answerOnBridge="true"[^>]*><Sip>sip:call_sweep0@/),
  },
  {
    ...signedForm('signed, a spoken yes in unicode', 200, consentPath(), () => ({ ...without(consentParams(), 'Digits'), SpeechResult: 'ＹＥＳ 😀 \u202e' }), sign),
    check: (o) => expect(o.body).not.toContain('<Start>'),
  },
  ...(
    [
      ['a call id that is not one', consentPath('call.sweep')],
      ['channels that are not mono or dual', consentPath('call_sweep0', 'stereo')],
      ['no call id', '/twilio/recording/consent?r=dual'],
    ] as const
  ).map(([what, path]) => signedForm(`signed, ${what}`, 400, path, consentParams, (p) => signedFormFor(path, p as Record<string, string>))),
  {
    name: 'a signature for another call id',
    expect: 403,
    send: (w) => {
      const { body, headers } = signedFormFor(consentPath(), consentParams());
      return post(w, consentPath('call_other'), body, headers);
    },
  },
]);

const recordingStatusParams = () => ({
  AccountSid: ACCOUNT_SID_OF_TESTS,
  CallSid: newCallSid(),
  RecordingSid: `RE${'0'.repeat(32)}`,
  RecordingStatus: 'completed',
  RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID_OF_TESTS}/Recordings/RE${'0'.repeat(32)}`,
  RecordingDuration: '12',
  RecordingChannels: '2',
});
const twilioRecordingStatus: SweepTarget = { ...twilioTarget('Twilio recording status callback', '/twilio/recording/status', recordingStatusParams, (sign) => [
  signedForm('signed, without RecordingSid', 400, '/twilio/recording/status', () => without(recordingStatusParams(), 'RecordingSid'), sign),
  signedForm('signed, a RecordingSid of another kind', 400, '/twilio/recording/status', () => ({ ...recordingStatusParams(), RecordingSid: `CA${'0'.repeat(32)}` }), sign),
  signedForm('signed, RecordingStatus twice', 400, '/twilio/recording/status', () => ({ ...recordingStatusParams(), RecordingStatus: ['in-progress', 'completed'] }), sign),
  signedForm('signed, RecordingDuration of 1,000 digits', 400, '/twilio/recording/status', () => ({ ...recordingStatusParams(), RecordingDuration: '9'.repeat(1000) }), sign),
  signedForm('signed, RecordingChannels of 3', 400, '/twilio/recording/status', () => ({ ...recordingStatusParams(), RecordingChannels: '3' }), sign),
  signedForm('signed, for a call the bridge never saw', 204, '/twilio/recording/status', recordingStatusParams, sign),
]), success: 204 };

const incomingSmsParams = () => ({ AccountSid: ACCOUNT_SID_OF_TESTS, MessageSid: `SM${'1'.repeat(32)}`, From: '+14155550199', To: '+14155550100', Body: 'Thanks!', NumMedia: '0' });
const twilioIncomingSms = twilioTarget('Twilio messaging webhook', '/twilio/sms', incomingSmsParams, (sign) => [
  signedForm('signed, without From', 400, '/twilio/sms', () => without(incomingSmsParams(), 'From'), sign),
  signedForm('signed, From twice', 400, '/twilio/sms', () => ({ ...incomingSmsParams(), From: ['+14155550199', '+19005550199'] }), sign),
  signedForm('signed, a MessageSid of another kind', 400, '/twilio/sms', () => ({ ...incomingSmsParams(), MessageSid: 'SM1' }), sign),
  signedForm('signed, a Body of 20,000 characters', 400, '/twilio/sms', () => ({ ...incomingSmsParams(), Body: 'b'.repeat(20_000) }), sign),
  {
    ...signedForm('signed, STOP in unicode and control characters', 200, '/twilio/sms', () => ({ ...incomingSmsParams(), Body: 'ＳＴＯＰ\u0000😀' }), sign),
    check: (o) => expect(o.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>'),
  },
  signedForm('signed, STOP', 200, '/twilio/sms', () => ({ ...incomingSmsParams(), Body: 'STOP', OptOutType: 'STOP' }), sign),
]);

/** A text the bridge never sent: authentic callbacks about it are answered 204 and change nothing. */
const smsStatusPath = (m = `send_sms-CA${'0'.repeat(32)}-1`) => `/twilio/sms/status?m=${m}`;
const smsStatusParams = () => ({ AccountSid: ACCOUNT_SID_OF_TESTS, MessageSid: `SM${'2'.repeat(32)}`, MessageStatus: 'undelivered', ErrorCode: '30003', To: '+14155550199', From: '+14155550100' });
const twilioSmsStatus = twilioTarget('Twilio text status callback', smsStatusPath(), smsStatusParams, (sign) => [
  signedForm('signed, without MessageStatus', 400, smsStatusPath(), () => without(smsStatusParams(), 'MessageStatus'), sign),
  signedForm('signed, a MessageStatus in unicode', 400, smsStatusPath(), () => ({ ...smsStatusParams(), MessageStatus: 'déliveré😀' }), sign),
  signedForm('signed, an ErrorCode that is no number', 400, smsStatusPath(), () => ({ ...smsStatusParams(), ErrorCode: '30003; DROP TABLE' }), sign),
  signedForm('signed, for a text the bridge never sent', 204, smsStatusPath(), smsStatusParams, sign),
  ...(
    [
      ['an id that is not a text\'s', smsStatusPath('warm_transfer-1')],
      ['no id', '/twilio/sms/status'],
    ] as const
  ).map(([what, path]) => signedForm(`signed, ${what}`, 400, path, smsStatusParams, (p) => signedFormFor(path, p as Record<string, string>))),
  {
    name: 'a signature for another text',
    expect: 403,
    send: (w) => {
      const { body, headers } = signedFormFor(smsStatusPath(), smsStatusParams());
      return post(w, smsStatusPath(`send_sms-CA${'1'.repeat(32)}-1`), body, headers);
    },
  },
]);

const SWEEP_API_TOKEN = 'sweep-api-token-0123456789abcdef';
const bearer = (token = SWEEP_API_TOKEN) => ({ authorization: `Bearer ${token}` });
const validCall = () => ({ to: '+14155550199', dynamic_variables: { first_name: 'Ada' } });
const callsApi: SweepTarget = {
  name: 'outbound-call API (POST /calls)',
  path: '/calls',
  contentType: 'application/json',
  common: false,
  validBody: () => JSON.stringify(validCall()),
  sign: () => bearer(),
  probes: () => {
    const send = (w: WebProcess, body: string | Buffer | ReadableStream, headers: Record<string, string> = bearer()) =>
      post(w, '/calls', body, { 'content-type': 'application/json', ...headers });
    const authed = (name: string, expect: Expect, body: () => unknown): Probe => ({ name, expect, send: (w) => send(w, JSON.stringify(body())) });
    const raw = (name: string, expect: Expect, body: () => string | Buffer, headers: Record<string, string> = {}): Probe => ({
      name,
      expect,
      send: (w) => send(w, body(), { ...bearer(), ...headers }),
    });
    const probes: Probe[] = [
      { name: 'no token', expect: 401, send: (w) => send(w, callsApi.validBody(), {}) },
      { name: 'a wrong token', expect: 401, send: (w) => send(w, callsApi.validBody(), bearer('wrong-token-0123456789abcdef')) },
      { name: 'the token in another scheme', expect: 401, send: (w) => send(w, callsApi.validBody(), { authorization: `Basic ${SWEEP_API_TOKEN}` }) },
      { name: 'a token 10 KiB long', expect: 401, send: (w) => send(w, callsApi.validBody(), bearer('t'.repeat(10 * 1024))) },
      { name: 'a 16 MiB body, no token', expect: '4xx-or-closed', send: (w) => send(w, Buffer.alloc(16 * MIB, 0x61), {}) },
      { name: 'random bytes, no token', expect: 401, send: (w) => send(w, randomBytes(901, 2000), {}) },
      raw('random bytes', 400, () => randomBytes(902, 2000)),
      raw('JSON truncated by half', 400, () => callsApi.validBody().slice(0, 12)),
      raw('an empty body', 400, () => ''),
      raw('two JSON documents back to back', 400, () => `${callsApi.validBody()}${callsApi.validBody()}`),
      raw('the body nested 100,000 objects deep', '4xx', () => `${'{"a":'.repeat(100_000)}{}${'}'.repeat(100_000)}`),
      // 30 and 60 KB, under the 64 KiB limit; serialising metadata this deep overflows the stack.
      ...[5_000, 10_000].map((levels) => ({
        ...raw(`metadata nested ${levels.toLocaleString('en-US')} deep`, 400, () => `{"to":"+14155550199","metadata":${'{"m":'.repeat(levels)}{}${'}'.repeat(levels)}}`),
        check: (o: Outcome) => expect(JSON.parse(o.body)).toEqual({ error: 'invalid', reason: 'the body nests more than 64 levels deep (in metadata)' }),
      })),
      {
        // Said at the beep, so what XML cannot carry is dropped on arrival rather than failing the TwiML then.
        ...raw('voicemail_message with U+0001, U+000B and U+FFFE', 202, () => JSON.stringify({ ...validCall(), voicemail: 'message', voicemail_message: 'Hi\u0001 Ada,\u000b call\ufffe us.' })),
        check: (o: Outcome) => expect(JSON.parse(o.body)).toMatchObject({ status: 'queued' }),
      },
      raw('dynamic_variables with 100,000 keys (over 64 KiB)', 413, () => JSON.stringify({ ...validCall(), dynamic_variables: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v'])) })),
      raw('a body just over 64 KiB', 413, () => JSON.stringify({ ...validCall(), metadata: { pad: 'x'.repeat(64 * 1024) } })),
      raw('a gzip bomb (16 MiB of zeros in a few KiB)', 415, () => gzipSync(Buffer.alloc(16 * MIB, 0x30)), { 'content-encoding': 'gzip' }),
      raw('an unknown Content-Encoding', 415, () => callsApi.validBody(), { 'content-encoding': 'x-unknown' }),
      {
        name: 'a chunked body without Content-Length that grows past 64 KiB',
        expect: 413,
        send: (w) => {
          let sent = 0;
          const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
          const stream = new ReadableStream({
            pull(controller) {
              if (sent++ >= 8) controller.close();
              else controller.enqueue(chunk);
            },
          });
          return send(w, stream);
        },
      },
      neverArrivesProbe(callsApi, bearer()),
    ];
    for (const [what, value] of [['null', null], ['a string', '+14155550199'], ['a number', 42], ['an array', [validCall()]]] as const) {
      probes.push(authed(`the JSON value ${what}`, 400, () => value));
    }
    const shapes: Array<[string, () => unknown]> = [
      ['to as a number', () => ({ to: 14155550199 })],
      ['to of 10,000 digits', () => ({ to: `+1${'5'.repeat(10_000)}` })],
      ['to with letters', () => ({ to: '+1415CALLNOW' })],
      ['to in fullwidth digits', () => ({ to: '+１４１５５５５０１９９' })],
      ['an unknown field', () => ({ ...validCall(), url: 'https://evil.example.com/twiml' })],
      ['a field named __proto__', () => JSON.parse(`{"to":"+14155550199","__proto__":{"admin":true}}`)],
      ['101 dynamic variables', () => ({ ...validCall(), dynamic_variables: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, 'v'])) })],
      ['dynamic_variables as an array', () => ({ ...validCall(), dynamic_variables: ['a'] })],
      ['metadata nested 1,000 deep', () => ({ ...validCall(), metadata: JSON.parse(`${'{"m":'.repeat(1000)}{}${'}'.repeat(1000)}`) })],
      ['voicemail_message of 10,000 characters', () => ({ ...validCall(), voicemail: 'message', voicemail_message: 'm'.repeat(10_000) })],
      ['voicemail_message of characters XML cannot carry only', () => ({ ...validCall(), voicemail: 'message', voicemail_message: '\u0001\u000b\ufffe\u0000' })],
      ['ring_timeout_s as 1e309', () => JSON.parse('{"to":"+14155550199","ring_timeout_s":1e309}')],
      ['agent_version as a string', () => ({ ...validCall(), agent_version: '1' })],
    ];
    for (const [what, body] of shapes) probes.push(authed(what, 400, body));
    probes.push(...methodProbes(callsApi, ['PUT', 'PATCH']));
    return probes;
  },
  afterSweep: async (w) => {
    const res = await post(w, '/calls', JSON.stringify(validCall()), { 'content-type': 'application/json', ...bearer() });
    expect(res.status).toBe(202);
    const { id } = JSON.parse(res.body) as { id: string };
    const got = await fetch(`${w.url}/calls/${id}`, { headers: bearer() });
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ id, status: 'queued', to: '+14155550199' });
  },
};

const dncApi: SweepTarget = {
  name: 'do-not-call API (POST /dnc, GET and DELETE /dnc/{number})',
  path: '/dnc',
  contentType: 'application/json',
  common: false,
  validBody: () => JSON.stringify({ numbers: ['+14155550188'] }),
  sign: () => bearer(),
  probes: () => {
    const send = (w: WebProcess, body: string | Buffer | ReadableStream, headers: Record<string, string> = bearer()) =>
      post(w, '/dnc', body, { 'content-type': 'application/json', ...headers });
    const authed = (name: string, expect: Expect, body: () => unknown): Probe => ({ name, expect, send: (w) => send(w, JSON.stringify(body())) });
    const raw = (name: string, expect: Expect, body: () => string | Buffer, headers: Record<string, string> = {}): Probe => ({
      name,
      expect,
      send: (w) => send(w, body(), { ...bearer(), ...headers }),
    });
    const onPath = (method: 'GET' | 'DELETE', name: string, expect: Expect, path: string, headers: Record<string, string> = bearer()): Probe => ({
      name: `${method} ${name}`,
      expect,
      send: async (w) => {
        try {
          const res = await fetch(w.url + path, { method, headers, signal: AbortSignal.timeout(15_000) });
          return { status: res.status, body: await res.text() };
        } catch (err) {
          return { status: 0, body: String(err) };
        }
      },
    });
    const probes: Probe[] = [
      { name: 'no token', expect: 401, send: (w) => send(w, dncApi.validBody(), {}) },
      { name: 'a wrong token', expect: 401, send: (w) => send(w, dncApi.validBody(), bearer('wrong-token-0123456789abcdef')) },
      { name: 'a 16 MiB body, no token', expect: '4xx-or-closed', send: (w) => send(w, Buffer.alloc(16 * MIB, 0x61), {}) },
      raw('random bytes', 400, () => randomBytes(903, 2000)),
      raw('JSON truncated by half', 400, () => dncApi.validBody().slice(0, 12)),
      raw('an empty body', 400, () => ''),
      raw('the body nested 100,000 arrays deep', '4xx', () => `{"numbers":${'['.repeat(100_000)}${']'.repeat(100_000)}}`),
      raw('a body just over 1 MiB', 413, () => JSON.stringify({ numbers: ['+14155550188'], pad: 'x'.repeat(MIB) })),
      raw('a gzip bomb (16 MiB of zeros in a few KiB)', 415, () => gzipSync(Buffer.alloc(16 * MIB, 0x30)), { 'content-encoding': 'gzip' }),
      neverArrivesProbe(dncApi, bearer()),
      authed('10,001 numbers', 400, () => ({ numbers: Array.from({ length: 10_001 }, (_, i) => `+1415${String(5_000_000 + i).padStart(7, '0')}`) })),
      authed('numbers of 10,000 characters each, none valid', 400, () => ({ numbers: Array.from({ length: 50 }, () => '+1'.padEnd(10_000, '5')) })),
      {
        // The same number in other digits: listed once, in ASCII E.164.
        ...authed('a number in fullwidth digits', 200, () => ({ numbers: ['+１４１５５５５０１５５'] })),
        check: async (o: Outcome) => {
          expect(JSON.parse(o.body)).toMatchObject({ invalid: [] });
          const got = await fetch(`${web.url}/dnc/%2B14155550155`, { headers: bearer() });
          expect(await got.json()).toMatchObject({ number: '+14155550155' });
        },
      },
      authed('numbers as objects and arrays', 400, () => ({ numbers: [{ n: '+14155550188' }, ['+14155550188'], true, null] })),
      authed('a field named __proto__', 400, () => JSON.parse('{"numbers":["+14155550188"],"__proto__":{"admin":true}}')),
      authed('source of 10,000 characters', 400, () => ({ numbers: ['+14155550188'], source: 's'.repeat(10_000) })),
      authed('one valid number among garbage', 200, () => ({ numbers: ['+14155550188', 'x', 7, '\u0000'] })),
      onPath('GET', 'without a token', 401, '/dnc/%2B14155550188', {}),
      onPath('DELETE', 'without a token', 401, '/dnc/%2B14155550188', {}),
      onPath('GET', 'a broken percent escape', 400, '/dnc/%E0%A4%A'),
      onPath('GET', 'a path of 10,000 characters', '4xx', `/dnc/${'9'.repeat(10_000)}`),
      onPath('GET', 'unicode', 400, `/dnc/${encodeURIComponent('通话😀\u202e')}`),
      onPath('DELETE', 'letters', 400, '/dnc/call-me-maybe'),
      onPath('GET', 'a number not listed', 404, '/dnc/%2B14155550177'),
    ];
    for (const [what, value] of [['null', null], ['a string', '+14155550199'], ['a number', 42], ['an array', ['+14155550199']]] as const) {
      probes.push(authed(`the JSON value ${what}`, 400, () => value));
    }
    probes.push(...methodProbes(dncApi, ['PUT', 'PATCH']));
    return probes;
  },
  afterSweep: async (w) => {
    const res = await post(w, '/dnc', JSON.stringify({ numbers: ['+14155550166'] }), { 'content-type': 'application/json', ...bearer() });
    expect(res.status).toBe(200);
    const got = await fetch(`${w.url}/dnc/%2B14155550166`, { headers: bearer() });
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ number: '+14155550166', source: 'api' });
  },
};

/** Every endpoint the sweep covers. */
const TARGETS: SweepTarget[] = [
  twilioVoice,
  twilioDialAction,
  retellFunctions,
  retellTransfer,
  retellEndCall,
  retellWebhook,
  twilioOutboundAnswer,
  twilioOutboundStatus,
  twilioOutboundAmd,
  retellWarmTransfer,
  twilioWarmGather,
  twilioWarmStatus,
  twilioRefer,
  callsApi,
  retellSendSms,
  retellPauseRecording,
  retellDoNotCall,
  dncApi,
  twilioRecordingConsent,
  twilioRecordingStatus,
  twilioIncomingSms,
  twilioSmsStatus,
];

// ---------------------------------------------------------------------------------------------------

beforeAll(async () => {
  redis = await RedisServer.start();
  retell = await new FaultyRetell(RETELL_KEY).start();
  web = await WebProcess.start({
    REDIS_URL: redis.url,
    REDIS_PREFIX: INPUT_PREFIX,
    RETELL_BASE_URL: retell.url,
    ...TRANSFER_ENV,
    API_TOKEN: SWEEP_API_TOKEN,
    OUTBOUND_FROM_NUMBER: '+14155550100',
    RECORDING: 'dual',
    SMS_TEMPLATES: JSON.stringify({ booking: 'Hi {{name}}, book here: https://example.com/book' }),
  });
});
afterAll(async () => {
  await web?.dispose();
  await retell?.stop();
  await redis?.dispose();
});

describe.each(TARGETS.map((t) => [t.name, t] as const))('when the %s gets bad input', (_name, target) => {
  const probes = [...(target.common === false ? [] : commonProbes(target)), ...target.probes()];

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
    if (target.afterSweep) await target.afterSweep(web);
    else await realVoiceCall();
    expect(web.alive).toBe(true);
    const serverErrors = web.records().filter((r) => r.level === 'fatal' || r.msg === 'request failed' || String(r.msg).includes('unexpectedly'));
    expect(serverErrors).toEqual([]);
  });
});

async function realVoiceCall(): Promise<void> {
  {
    const params = voiceParams();
    const body = formOf(params);
    const res = await post(web, '/twilio/voice', body, { 'content-type': 'application/x-www-form-urlencoded', ...twilioSign('/twilio/voice', body) });
    expect(isCallTwiml({ status: res.status, body: res.body, contentType: 'text/xml', callSid: params.CallSid!, startedAt: 0, elapsedMs: 0 })).toBe(true);
    expect(dialedCallId(res.body)).toBe(retell.registrationsFor(params.CallSid!)[0]);
  }
}

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

describe('when Retell sends a signed event for a call the bridge knows, with a timestamp no date can hold', () => {
  // A timestamp no Date can hold once reached the call store's error path and came back 503, so Retell
  // retried an event that could never succeed; the schema now bounds it.
  it.each([
    ['call_started', { start_timestamp: 1e300 }],
    ['call_ended', { end_timestamp: -1e300, duration_ms: 1 }],
    ['call_started', { start_timestamp: 8.64e15 + 1 }],
  ] as const)('%s with %j: then it is refused with a 4xx (or handled), never a 5xx', async (event, fields) => {
    const { callId } = await knownCall(web);
    const b = JSON.stringify(webhookEvent(event, { call_id: callId, ...fields }));
    const res = await post(web, '/retell/webhook', b, { 'content-type': 'application/json', ...retellSign(b) });
    expect(res.status < 500).toBe(true);
    expect(web.alive).toBe(true);
  });
});
