/**
 * The bridge's Twilio REST client (twilio-node over TwilioHttpClient) against twilio-node on its own
 * http client, request for request: what reaches the wire, and what the caller gets back, including
 * the exceptions for error answers.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import twilio, { type Twilio } from 'twilio';
import { Agent } from 'undici';
import { createTwilioClient, TWILIO_REQUEST_TIMEOUT_MS } from '../../src/twilio/client';
import { classifyTwilioError } from '../../src/twilio/errors';
import { TwilioHttpClient, whenSent } from '../../src/twilio/http-client';
import { twilioNodeClient } from '../support/twilio-node-client';
import { ACCOUNT_SID, AUTH_TOKEN } from '../support/twilio-signing';
import { waitFor } from '../support/wait';

const CALL_SID = 'CA' + 'a1'.repeat(16);
const NUMBER_SID = 'PN' + 'b2'.repeat(16);

interface Captured {
  method: string;
  url: string;
  /** Header name (lower case) → value; names are case-insensitive on the wire. */
  headers: Record<string, string>;
  body: string;
  socket: Socket;
  /** When its headers arrived (`performance.now()`). */
  at: number;
}

/** An answer for the next request, instead of the default 200 with a call resource; `delayMs` holds it back. */
type Answer = { status: number; body: string; contentType?: string; delayMs?: number } | 'hang';

/** Records every request as it arrived and answers as told. */
class CaptureServer {
  readonly requests: Captured[] = [];
  readonly answers: Answer[] = [];
  private readonly server = http.createServer((req, res) => {
    const at = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i]!.toLowerCase()] = req.rawHeaders[i + 1]!;
      this.requests.push({ method: req.method!, url: req.url!, headers, body: Buffer.concat(chunks).toString('latin1'), socket: req.socket, at });
      const answer = this.answers.shift() ?? { status: 200, body: JSON.stringify(callResource()) };
      if (answer === 'hang') return;
      const send = () => void (res.destroyed || res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' }).end(answer.body));
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function callResource() {
  return {
    sid: CALL_SID,
    account_sid: ACCOUNT_SID,
    from: '+14155550199',
    to: '+14155550100',
    status: 'in-progress',
    direction: 'inbound',
    date_created: 'Tue, 01 Dec 2026 10:00:00 +0000',
    date_updated: 'Tue, 01 Dec 2026 10:00:05 +0000',
    start_time: 'Tue, 01 Dec 2026 10:00:01 +0000',
    end_time: 'Tue, 01 Dec 2026 10:01:01 +0000',
    duration: null,
    price: null,
    api_version: '2010-04-01',
    uri: `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${CALL_SID}.json`,
    subresource_uris: {},
  };
}

let server: CaptureServer;
let ours: Twilio;
let theirs: Twilio;
beforeAll(async () => {
  server = await new CaptureServer().start();
  ours = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: server.url });
  theirs = twilioNodeClient({ baseUrl: server.url, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, timeoutMs: TWILIO_REQUEST_TIMEOUT_MS });
});
afterAll(async () => {
  await server.stop();
});

/** Runs `op` with twilio-node's client, then with the bridge's; returns what reached the server and what came back. */
async function both<T>(op: (client: Twilio) => Promise<T>): Promise<{ wire: Captured[]; results: Array<PromiseSettledResult<T>> }> {
  const first = server.requests.length;
  const results = [...(await Promise.allSettled([op(theirs)])), ...(await Promise.allSettled([op(ours)]))];
  return { wire: server.requests.slice(first), results };
}

const PAGE = JSON.stringify({ incoming_phone_numbers: [], page: 0, page_size: 20, next_page_uri: null, uri: '/x' });

describe('the Twilio REST client, against twilio-node on its own http client', () => {
  const WEIRD = `<Response><Say>Dites « bonjour » (s'il vous plaît) * ~ ! 😀 & a+b=c; 100% \u00a0</Say></Response>`;

  // Every row names its answer (null: a call resource), or jest would pass its done callback in its place.
  it.each<[string, (c: Twilio) => Promise<unknown>, Answer | null]>([
    ['a redirect with TwiML full of characters that need encoding', (c) => c.calls(CALL_SID).update({ twiml: WEIRD }), null],
    ['a hang-up', (c) => c.calls(CALL_SID).update({ status: 'completed' }), null],
    ['an update with nothing to change', (c) => c.calls(CALL_SID).update({}), null],
    [
      'a new call with list parameters, sent as repeated keys',
      (c) => c.calls.create({ to: '+14155550101', from: '+14155550100', url: 'https://bridge.example.com/twilio/voice?a=1&b=2', statusCallbackEvent: ['initiated', 'ringing', 'answered'], timeout: 20, record: false }),
      null,
    ],
    ['a fetch (GET, no query)', (c) => c.calls(CALL_SID).fetch(), null],
    ['a list with a query (GET)', (c) => c.incomingPhoneNumbers.page({ phoneNumber: '+1 415 555-0100', pageSize: 20 }), { status: 200, body: PAGE }],
    ['a number update', (c) => c.incomingPhoneNumbers(NUMBER_SID).update({ voiceUrl: 'https://bridge.example.com/twilio/voice', voiceMethod: 'POST' }), null],
    ['a delete', (c) => c.calls(CALL_SID).remove(), { status: 204, body: '' }],
  ])('when it sends %s, then the method, path, query, body and headers are twilio-node\'s', async (_what, op, answer) => {
    if (answer) server.answers.push(answer, answer);
    const { wire, results } = await both(op);
    expect(wire).toHaveLength(2);
    const [reference, mine] = wire as [Captured, Captured];

    expect({ method: mine.method, url: mine.url, body: mine.body }).toEqual({ method: reference.method, url: reference.url, body: reference.body });
    // axios asks for compressed answers; this client does not, so Twilio answers uncompressed. Nothing else differs.
    const { 'accept-encoding': acceptEncoding, ...referenceHeaders } = reference.headers;
    expect(acceptEncoding).toBe('gzip, compress, deflate, br');
    expect(mine.headers).toEqual(referenceHeaders);
    expect(mine.headers['user-agent']).toMatch(/^twilio-node\/\d+\.\d+\.\d+ \(\w+ \w+\) node\/v\d+/);
    expect(mine.headers.authorization).toBe(`Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`);

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const values = results.map((r) => JSON.stringify((r as PromiseFulfilledResult<{ toJSON?: () => unknown }>).value?.toJSON?.() ?? (r as PromiseFulfilledResult<unknown>).value));
    expect(values[1]).toBe(values[0]);
  });

  it('when Twilio sends form bodies through the bridge, then the encoding is qs\'s: spaces as %20, ! \' ( ) * escaped, a lone surrogate as U+FFFD', async () => {
    const { wire } = await both((c) => c.calls(CALL_SID).update({ twiml: "a b!'()*~-._\ud800" }));
    expect(wire[1]!.body).toBe('Twiml=a%20b%21%27%28%29%2A~-._%EF%BF%BD');
    expect(wire[1]!.body).toBe(wire[0]!.body);
  });

  it.each<[string, Answer, (e: Record<string, unknown>) => void]>([
    [
      'a Twilio error (400, code 21220)',
      { status: 400, body: JSON.stringify({ code: 21220, message: 'Call is not in-progress. Cannot redirect.', more_info: 'https://www.twilio.com/docs/errors/21220', status: 400 }) },
      (e) => expect(e).toMatchObject({ status: 400, code: 21220, message: 'Call is not in-progress. Cannot redirect.', moreInfo: 'https://www.twilio.com/docs/errors/21220' }),
    ],
    [
      'too many requests (429)',
      { status: 429, body: JSON.stringify({ code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429 }) },
      (e) => expect(e).toMatchObject({ status: 429, code: 20429 }),
    ],
    ['a 502 with an HTML body', { status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html' }, (e) => expect(e).toMatchObject({ status: 502, message: '[HTTP 502] Failed to execute request' })],
    [
      'an RFC 9457 problem',
      { status: 422, body: JSON.stringify({ type: 'https://www.twilio.com/docs/errors/21201', title: 'Invalid parameter', status: 422, code: 21201, detail: 'Twiml is missing' }) },
      (e) => expect(e).toMatchObject({ status: 422, code: 21201, title: 'Invalid parameter', detail: 'Twiml is missing' }),
    ],
  ])('when Twilio answers %s, then the same exception reaches the caller, after one request each (no retries)', async (_what, answer, check) => {
    server.answers.push(answer, answer);
    const { wire, results } = await both((c) => c.calls(CALL_SID).update({ status: 'completed' }));
    expect(wire).toHaveLength(2);
    const [reference, mine] = results.map((r) => (r as PromiseRejectedResult).reason as Error & Record<string, unknown>);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(mine!.constructor).toBe(reference!.constructor);
    expect({ ...mine, message: mine!.message }).toEqual({ ...reference, message: reference!.message });
    check(mine!);
    if (answer !== 'hang' && answer.status !== 422) expect(mine).toBeInstanceOf(twilio.RestException);
    expect(classifyTwilioError(mine)).toBe(classifyTwilioError(reference));
  });

  it('when requests follow each other, then they reuse kept-alive connections', async () => {
    const client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: server.url });
    const first = server.requests.length;
    for (let i = 0; i < 6; i++) await client.calls(CALL_SID).update({ status: 'completed' });
    const sent = server.requests.slice(first);
    expect(sent.map((r) => r.headers.connection)).toEqual(Array(6).fill('keep-alive'));
    // A request sent the moment the previous answer is read may find its connection not yet released.
    expect(new Set(sent.map((r) => r.socket.remotePort)).size).toBeLessThanOrEqual(2);
  });

  it('when a request waits for a free connection, then whenSent tells when it is written, not when it was asked for', async () => {
    const one = new Agent({ connections: 1 });
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: new TwilioHttpClient({ baseUrl: server.url, timeoutMs: 5000, dispatcher: one }) as never, lazyLoading: true });
    // The only connection is held by a request answered after 400 ms.
    server.answers.push({ status: 200, body: JSON.stringify(callResource()), delayMs: 400 });
    const first = server.requests.length;
    const asked = performance.now();
    const busy = client.calls(CALL_SID).fetch();
    const sent: number[] = [];
    const created = whenSent(
      () => sent.push(performance.now()),
      () => client.calls.create({ to: '+14155550101', from: '+14155550100', url: 'https://bridge.example.com/twilio/voice' }),
    );
    await Promise.all([busy, created]);
    const [held, create] = server.requests.slice(first) as [Captured, Captured];
    expect([held.method, create.method]).toEqual(['GET', 'POST']);
    // Told once, for the create only, after the connection was freed and before the request arrived.
    expect(sent).toHaveLength(1);
    expect(sent[0]! - asked).toBeGreaterThanOrEqual(400 - 5);
    expect(sent[0]!).toBeLessThanOrEqual(create.at);
    // Requests outside whenSent tell nobody.
    await client.calls(CALL_SID).fetch();
    expect(sent).toHaveLength(1);
    // A callback that throws does not stop the request.
    const before = server.requests.length;
    const call = await whenSent(
      () => {
        throw new Error('the callback failed');
      },
      () => client.calls(CALL_SID).fetch(),
    );
    expect(call.sid).toBe(CALL_SID);
    expect(server.requests.length).toBe(before + 1);
    await one.close();
  });

  it('when Twilio does not answer within the timeout, then the request fails as a transport error to retry, as twilio-node\'s does', async () => {
    const quick = new TwilioHttpClient({ baseUrl: server.url, timeoutMs: 300 });
    const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: quick as never, lazyLoading: true });
    const reference = twilioNodeClient({ baseUrl: server.url, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, timeoutMs: 300 });
    // Answers that would succeed, sent only after four times the timeout: a client still waiting then would take them.
    const late = { status: 200, body: JSON.stringify(callResource()), delayMs: 4 * 300 };
    server.answers.push(late, late);
    const first = server.requests.length;
    const [theirsFailed, oursFailed] = await Promise.allSettled([reference.calls(CALL_SID).fetch(), client.calls(CALL_SID).fetch()]);
    // Each gave up on its request by closing its connection, not by leaving it open on Twilio's side.
    const hung = server.requests.slice(first);
    expect(hung).toHaveLength(2);
    await waitFor('both requests\' connections to be closed', () => hung.every((r) => r.socket.destroyed));
    for (const outcome of [theirsFailed, oursFailed]) {
      expect(outcome!.status).toBe('rejected');
      const err = (outcome as PromiseRejectedResult).reason as { status?: unknown };
      expect(err.status).toBeUndefined();
      expect(classifyTwilioError(err)).toBe('retry');
    }
    // The bridge's client runs its requests on the same bound.
    expect(ours.httpClient).toBeInstanceOf(TwilioHttpClient);
    expect((ours.httpClient as unknown as TwilioHttpClient).timeoutMs).toBe(TWILIO_REQUEST_TIMEOUT_MS);
  });

  it('when Twilio cannot be reached, then the request fails as a transport error to retry', async () => {
    const closed = new CaptureServer();
    await closed.start();
    const url = closed.url;
    await closed.stop();
    const client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: url });
    const err = await client.calls(CALL_SID).fetch().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    expect(classifyTwilioError(err)).toBe('retry');
  });
});
