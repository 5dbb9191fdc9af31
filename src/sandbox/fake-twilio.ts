import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeCallee } from './fake-callee';
import { LoopbackServer } from './loopback-server';

export interface ReceivedTwilioRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  form: Record<string, string>;
  /** `AccountSid:AuthToken` from Basic auth. */
  auth: string;
  receivedAt: number;
  /** The HTTP status the fake answered (undefined while hanging or when the client gave up). */
  answered?: number;
}

/** A scripted answer for one upcoming request instead of the normal behaviour. */
export type Injection =
  | { kind: 'error'; status: number; code: number; message?: string }
  /** Accept and never answer (until the client times out). */
  | { kind: 'hang' }
  /** Answer normally after a delay. */
  | { kind: 'delay'; ms: number };

export interface FakeCall {
  sid: string;
  from: string;
  to: string;
  status: 'queued' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'failed' | 'no-answer' | 'canceled';
  /** Last TwiML the call was redirected to. */
  twiml?: string;
}

export interface FakeNumber {
  sid: string;
  phoneNumber: string;
  voiceUrl: string;
  voiceMethod: string;
  voiceFallbackUrl: string;
  voiceFallbackMethod: string;
  statusCallback: string;
  statusCallbackMethod: string;
  /** A TwiML App that takes precedence over the voice URLs ('' for none). */
  voiceApplicationSid: string;
  /** An Elastic SIP Trunk that takes the number's calls ('' for none). */
  trunkSid: string;
}

/**
 * The slice of Twilio's REST API the bridge uses, on loopback, with Twilio's wire format: Basic auth,
 * form-encoded bodies, JSON answers and Twilio's error shape `{code, message, more_info, status}`.
 *
 * - `POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json` (Twiml, Url, Status=completed|canceled)
 * - `POST /2010-04-01/Accounts/{AC}/Calls.json`, `GET .../Calls.json`, `GET .../Calls/{CA}.json`: outbound
 *   calls, each then played by a scriptable callee (`callee`, see fake-callee.ts)
 * - `GET  /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json?PhoneNumber=...`
 * - `POST /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers/{PN}.json` (the voice, fallback and status
 *   webhooks and their methods, VoiceApplicationSid)
 */
export class FakeTwilioApi extends LoopbackServer {
  readonly requests: ReceivedTwilioRequest[] = [];
  readonly calls = new Map<string, FakeCall>();
  readonly numbers = new Map<string, FakeNumber>();
  /** Consumed one per request to the Calls resource, before normal handling. */
  readonly injections: Injection[] = [];
  /** Outbound calls: created, listed, fetched, and played by a scriptable callee. */
  readonly callee: FakeCallee;

  constructor(
    readonly accountSid: string,
    readonly authToken: string,
  ) {
    super();
    this.callee = new FakeCallee({
      accountSid,
      authToken,
      calls: this.calls,
      ownsNumber: (phoneNumber) => [...this.numbers.values()].find((n) => n.phoneNumber === phoneNumber)?.sid,
    });
  }

  override async stop(): Promise<void> {
    this.callee.stop();
    await super.stop();
  }

  addCall(sid: string, from = '+14155550199', to = '+14155550100', status: FakeCall['status'] = 'in-progress'): FakeCall {
    const call: FakeCall = { sid, from, to, status };
    this.calls.set(sid, call);
    return call;
  }

  addNumber(phoneNumber: string, settings: Partial<Omit<FakeNumber, 'sid' | 'phoneNumber'>> = {}): FakeNumber {
    const sid = `PN${Buffer.from(phoneNumber).toString('hex').padEnd(32, '0').slice(0, 32)}`;
    const number: FakeNumber = {
      sid,
      phoneNumber,
      voiceUrl: 'https://demo.twilio.com/welcome/voice/',
      voiceMethod: 'POST',
      voiceFallbackUrl: '',
      voiceFallbackMethod: 'POST',
      statusCallback: '',
      statusCallbackMethod: 'POST',
      voiceApplicationSid: '',
      trunkSid: '',
      ...settings,
    };
    this.numbers.set(sid, number);
    return number;
  }

  /** Requests that updated a call (redirect or hang-up), in arrival order. */
  callUpdates(sid?: string): ReceivedTwilioRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && /\/Calls\/CA[0-9a-f]{32}\.json$/i.test(r.path) && (!sid || r.path.includes(sid)));
  }

  /** Resolves when `n` call updates have been answered 200. */
  async waitForSuccessfulUpdates(n: number, timeoutMs = 10_000): Promise<ReceivedTwilioRequest[]> {
    const started = Date.now();
    for (;;) {
      const ok = this.callUpdates().filter((r) => r.answered === 200);
      if (ok.length >= n) return ok;
      if (Date.now() - started > timeoutMs) throw new Error(`only ${ok.length} of ${n} successful call updates after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const auth = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');
    const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const form = Object.fromEntries(params);
    const record: ReceivedTwilioRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, form, auth, receivedAt: Date.now() };
    this.requests.push(record);

    const send = (status: number, body: unknown) => {
      record.answered = status;
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const error = (status: number, code: number, message: string) =>
      send(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

    if (auth !== `${this.accountSid}:${this.authToken}`) return error(401, 20003, 'Authenticate');
    const base = `/2010-04-01/Accounts/${this.accountSid}`;
    if (await this.callee.handle(req.method ?? '', url, params, { send, error })) return;

    const callMatch = url.pathname.match(/^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Calls\/(CA[0-9a-f]{32})\.json$/i);
    if (callMatch && req.method === 'POST') {
      const injection = this.injections.shift();
      if (injection?.kind === 'hang') return;
      if (injection?.kind === 'delay') await new Promise((r) => setTimeout(r, injection.ms));
      if (injection?.kind === 'error') return error(injection.status, injection.code, injection.message ?? `injected ${injection.status}`);
      if (callMatch[1] !== this.accountSid) return error(404, 20404, 'The requested resource was not found');
      const call = this.calls.get(callMatch[2]!);
      if (!call) return error(404, 20404, `The requested resource ${url.pathname} was not found`);
      if (form.Twiml === undefined && form.Url === undefined && form.Status === undefined) {
        return error(400, 21201, 'No valid parameters to update');
      }
      if (call.status !== 'in-progress' && call.status !== 'ringing' && call.status !== 'queued') {
        return error(400, 21220, 'Call is not in-progress. Cannot redirect.');
      }
      if (form.Twiml !== undefined) {
        if (form.Twiml.length > 4000) return error(400, 21236, 'Twiml is too long');
        call.twiml = form.Twiml;
      }
      if (form.Status === 'completed') call.status = 'completed';
      // Canceling leaves a call that has been answered alone (Twilio's documented behaviour).
      if (form.Status === 'canceled' && (call.status === 'queued' || call.status === 'ringing')) call.status = 'canceled';
      this.callee.changed(call);
      return send(200, {
        sid: call.sid,
        account_sid: this.accountSid,
        from: call.from,
        to: call.to,
        status: call.status,
        direction: 'inbound',
        api_version: '2010-04-01',
        uri: `${base}/Calls/${call.sid}.json`,
      });
    }

    if (url.pathname === `${base}/IncomingPhoneNumbers.json` && req.method === 'GET') {
      const wanted = url.searchParams.get('PhoneNumber');
      const list = [...this.numbers.values()].filter((n) => !wanted || n.phoneNumber === wanted);
      return send(200, {
        incoming_phone_numbers: list.map((n) => this.numberJson(n)),
        page: 0,
        page_size: 50,
        next_page_uri: null,
        uri: `${base}/IncomingPhoneNumbers.json`,
      });
    }

    const numberMatch = url.pathname.match(/^\/2010-04-01\/Accounts\/AC[0-9a-f]{32}\/IncomingPhoneNumbers\/(PN[0-9a-f]{32})\.json$/i);
    if (numberMatch && req.method === 'POST') {
      const number = this.numbers.get(numberMatch[1]!);
      if (!number) return error(404, 20404, 'The requested resource was not found');
      const fields: Array<[keyof FakeNumber, string]> = [
        ['voiceUrl', 'VoiceUrl'],
        ['voiceMethod', 'VoiceMethod'],
        ['voiceFallbackUrl', 'VoiceFallbackUrl'],
        ['voiceFallbackMethod', 'VoiceFallbackMethod'],
        ['statusCallback', 'StatusCallback'],
        ['statusCallbackMethod', 'StatusCallbackMethod'],
        ['voiceApplicationSid', 'VoiceApplicationSid'],
      ];
      for (const [prop, param] of fields) if (form[param] !== undefined) number[prop] = form[param]!;
      return send(200, this.numberJson(number));
    }

    return error(404, 20404, `The requested resource ${url.pathname} was not found`);
  }

  private numberJson(n: FakeNumber) {
    return {
      sid: n.sid,
      account_sid: this.accountSid,
      phone_number: n.phoneNumber,
      friendly_name: n.phoneNumber,
      voice_url: n.voiceUrl,
      voice_method: n.voiceMethod,
      voice_fallback_url: n.voiceFallbackUrl,
      voice_fallback_method: n.voiceFallbackMethod,
      status_callback: n.statusCallback,
      status_callback_method: n.statusCallbackMethod,
      voice_application_sid: n.voiceApplicationSid || null,
      trunk_sid: n.trunkSid || null,
      voice_receive_mode: 'voice',
      api_version: '2010-04-01',
    };
  }
}
