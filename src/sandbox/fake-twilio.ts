import { randomBytes } from 'node:crypto';
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

/** A scripted answer for one upcoming call update instead of the normal behaviour. */
export type Injection =
  | { kind: 'error'; status: number; code: number; message?: string }
  /** Accept and never answer (until the client times out); nothing is performed. */
  | { kind: 'hang' }
  /** Answer normally after a delay: nothing is performed until then. */
  | { kind: 'delay'; ms: number }
  /** Perform the update at once, then answer only after `ms` (a Twilio slow to respond, not to act). */
  | { kind: 'late'; ms: number };

export type FakeCallStatus = 'queued' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'failed' | 'no-answer' | 'canceled';

export interface FakeCall {
  sid: string;
  from: string;
  to: string;
  status: FakeCallStatus;
  /** The call whose `<Dial>` created this one (a child leg), as Twilio's `parent_call_sid`. */
  parentSid?: string;
  createdAt: number;
  endedAt?: number;
  /** Last TwiML the call was given (answered with, or redirected to). */
  twiml?: string;
  /** A call placed through the API (`calls.create`): Twilio's `outbound-api`. */
  direction?: 'outbound-api';
  /** When Twilio began dialing it (start_time); unset while it waits in Twilio's queue. */
  startedAt?: number;
  answeredAt?: number;
  /** The answering-machine verdict, once there is one. */
  answeredBy?: string;
  /** The conference the call was put in by `<Dial><Conference>`. */
  conference?: string;
}

const FINAL: ReadonlySet<FakeCallStatus> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/** RFC 2822, as Twilio writes dates in its JSON and callbacks. */
export const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');

/** The Calls list's filters: StartTime with a date (YYYY-MM-DD) is that UTC day; `>` and `<` are on or after, on or before. */
function matchesCallFilters(c: FakeCall, q: URLSearchParams): boolean {
  if (q.has('ParentCallSid') && c.parentSid !== q.get('ParentCallSid')) return false;
  if (q.has('To') && c.to !== q.get('To')) return false;
  if (q.has('From') && c.from !== q.get('From')) return false;
  if (q.has('Status') && c.status !== q.get('Status')) return false;
  const started = c.direction === 'outbound-api' ? c.startedAt : c.createdAt;
  const day = (v: string) => v.length <= 10;
  const on = q.get('StartTime');
  const after = q.get('StartTime>');
  const before = q.get('StartTime<');
  if ((on ?? after ?? before) !== null && started === undefined) return false;
  if (on !== null && new Date(started!).toISOString().slice(0, 10) !== on.slice(0, 10)) return false;
  if (after !== null && started! < Date.parse(after)) return false;
  if (before !== null && started! > Date.parse(before) + (day(before) ? 86_399_999 : 0)) return false;
  return true;
}

const unescapeXml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

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
 * - `POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json` (Twiml, Url, Status=completed|canceled): a redirect
 *   ends the call's child legs and plays the new TwiML (see playTwiml)
 * - `POST /2010-04-01/Accounts/{AC}/Calls.json`: an outbound call, then played by a scriptable callee
 *   (`callee`, see fake-callee.ts: status callbacks, the answer URL, AMD verdicts, all signed)
 * - `GET  /2010-04-01/Accounts/{AC}/Calls/{CA}.json` and `GET .../Calls.json` (ParentCallSid, To, From,
 *   Status, StartTime, StartTime>, StartTime<, PageSize, Page), newest first
 * - `GET  /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json?PhoneNumber=...`
 * - `POST /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers/{PN}.json` (the voice, fallback and status
 *   webhooks and their methods, VoiceApplicationSid)
 *
 * Two more endpoints, outside Twilio's paths and with the same Basic auth, let the sandbox's tools play
 * the part of the phone network and look at what the bridge sent:
 * - `POST /sandbox/incoming-calls` (CallSid, From, To): a call arrives, so Twilio knows it before it
 *   posts the voice webhook, as the real one does;
 * - `GET /sandbox/requests?CallSid=CA…`: the REST requests received for that call, with their answers.
 */
export class FakeTwilioApi extends LoopbackServer {
  readonly requests: ReceivedTwilioRequest[] = [];
  readonly calls = new Map<string, FakeCall>();
  readonly numbers = new Map<string, FakeNumber>();
  /** Consumed one per request to the Calls resource, before normal handling. */
  readonly injections: Injection[] = [];
  /** Outbound calls (`calls.create`) and the callee that plays them. */
  readonly callee: FakeCallee;
  /**
   * CallTokens of inbound calls, with the caller's number: a call created with one of them may show that
   * number as `From`, as Twilio allows for a forwarded call.
   */
  readonly callTokens = new Map<string, string>();

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
      callerOfToken: (token) => this.callTokens.get(token),
      playTwiml: (sid, twiml) => this.playTwiml(sid, twiml),
      end: (call, status) => this.end(call, status),
      callJson: (call) => this.callJson(call),
    });
  }

  override async stop(): Promise<void> {
    this.callee.stop();
    await super.stop();
  }

  addCall(sid: string, from = '+14155550199', to = '+14155550100', status: FakeCallStatus = 'in-progress'): FakeCall {
    const call: FakeCall = { sid, from, to, status, createdAt: Date.now() };
    this.calls.set(sid, call);
    return call;
  }

  /**
   * Plays TwiML on a live call as Twilio does, as far as the bridge's TwiML goes: each `<Dial>` target
   * (`<Number>`, `<Sip>`, or a bare number) becomes a child leg with `parent_call_sid`; TwiML that ends
   * without a `<Dial>` but with `<Hangup/>` completes the call. Used when a call is answered with the
   * bridge's TwiML and when it is redirected.
   */
  playTwiml(sid: string, twiml: string): void {
    const call = this.calls.get(sid);
    if (!call) throw new Error(`no call ${sid}`);
    call.twiml = twiml;
    const dial = /<Dial\b([^>]*)>([\s\S]*?)<\/Dial>/.exec(twiml);
    const conference = dial && /<Conference\b[^>]*>([^<]*)<\/Conference>/.exec(dial[2]!);
    if (conference) {
      // A conference is not a leg of the call: the call joins the room, where others may join it.
      call.conference = unescapeXml(conference[1]!.trim());
    } else if (dial) {
      const callerId = /callerId="([^"]*)"/.exec(dial[1]!)?.[1];
      const nouns = [...dial[2]!.matchAll(/<(Number|Sip)\b[^>]*>([^<]*)<\/\1>/g)].map((m) => unescapeXml(m[2]!.trim()));
      const targets = nouns.length ? nouns : [unescapeXml(dial[2]!.trim())];
      for (const to of targets) {
        const childSid = `CA${randomBytes(16).toString('hex')}`;
        this.calls.set(childSid, {
          sid: childSid,
          from: callerId ? unescapeXml(callerId) : call.from,
          to,
          status: to.startsWith('sip:') ? 'in-progress' : 'ringing',
          parentSid: sid,
          createdAt: Date.now(),
        });
      }
    } else if (/<Hangup\s*\/>/.test(twiml)) {
      this.end(call, 'completed');
    }
  }

  /** The calls in conference `room` that have not ended. */
  inConference(room: string): FakeCall[] {
    return [...this.calls.values()].filter((c) => c.conference === room && !FINAL.has(c.status));
  }

  /** The call's child legs, oldest first. */
  children(sid: string): FakeCall[] {
    return [...this.calls.values()].filter((c) => c.parentSid === sid);
  }

  private end(call: FakeCall, status: FakeCallStatus): void {
    for (const child of this.children(call.sid)) this.endLeg(child);
    if (!FINAL.has(call.status)) {
      call.status = status;
      call.endedAt = Date.now();
    }
  }

  private endLeg(call: FakeCall): void {
    if (FINAL.has(call.status)) return;
    call.status = 'completed';
    call.endedAt = Date.now();
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
    if (url.pathname === `${base}/Calls.json` && req.method === 'POST') return this.callee.create(params, { send, error });

    if (url.pathname === '/sandbox/incoming-calls' && req.method === 'POST') {
      const { CallSid: sid, From: from, To: to } = form;
      if (!sid || !/^CA[0-9a-f]{32}$/i.test(sid) || !from || !to) return error(400, 21201, 'CallSid (CA…), From and To are required');
      // A call that has just arrived: the voice webhook is answered with TwiML that connects it.
      const call = this.addCall(sid, from, to, 'in-progress');
      return send(201, { sid: call.sid, from: call.from, to: call.to, status: call.status });
    }
    if (url.pathname === '/sandbox/requests' && req.method === 'GET') {
      const sid = url.searchParams.get('CallSid') ?? undefined;
      const requests = this.callUpdates(sid).map((r) => ({ method: r.method, path: r.path, form: r.form, answered: r.answered ?? null, received_at: new Date(r.receivedAt).toISOString() }));
      return send(200, { requests });
    }

    const callMatch = url.pathname.match(/^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Calls\/(CA[0-9a-f]{32})\.json$/i);
    if (callMatch && req.method === 'GET') {
      const call = callMatch[1] === this.accountSid ? this.calls.get(callMatch[2]!) : undefined;
      if (!call) return error(404, 20404, `The requested resource ${url.pathname} was not found`);
      return send(200, this.callJson(call));
    }
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
      if (FINAL.has(call.status)) return error(400, 21220, 'Call is not in-progress. Cannot redirect.');
      if (form.Twiml !== undefined && form.Twiml.length > 4000) return error(400, 21236, 'Twiml is too long');
      if (form.Twiml !== undefined || form.Url !== undefined) {
        // A redirect ends whatever the call was doing, its <Dial> legs included, then runs the new TwiML.
        for (const child of this.children(call.sid)) this.endLeg(child);
        if (form.Twiml !== undefined) this.playTwiml(call.sid, form.Twiml);
      }
      if (form.Status === 'completed') this.end(call, 'completed');
      // Canceling leaves a call that has been answered alone (Twilio's documented behaviour).
      if (form.Status === 'canceled' && (call.status === 'queued' || call.status === 'ringing')) this.end(call, 'canceled');
      this.callee.changed(call);
      const answer = this.callJson(call);
      if (injection?.kind === 'late') await new Promise((r) => setTimeout(r, injection.ms));
      return send(200, answer);
    }

    if (url.pathname === `${base}/Calls.json` && req.method === 'GET') {
      const q = url.searchParams;
      const list = [...this.calls.values()].filter((c) => matchesCallFilters(c, q)).sort((a, b) => b.createdAt - a.createdAt);
      const pageSize = Math.min(Math.max(Number(q.get('PageSize') ?? 50) || 50, 1), 1000);
      const page = Math.max(Number(q.get('Page') ?? 0) || 0, 0);
      const slice = list.slice(page * pageSize, (page + 1) * pageSize);
      const pageUri = (n: number) => {
        const p = new URLSearchParams(q);
        p.set('PageSize', String(pageSize));
        p.set('Page', String(n));
        return `${base}/Calls.json?${p}`;
      };
      return send(200, {
        calls: slice.map((c) => this.callJson(c)),
        page,
        page_size: pageSize,
        first_page_uri: pageUri(0),
        next_page_uri: (page + 1) * pageSize < list.length ? pageUri(page + 1) : null,
        previous_page_uri: page > 0 ? pageUri(page - 1) : null,
        start: page * pageSize,
        end: page * pageSize + Math.max(slice.length - 1, 0),
        uri: pageUri(page),
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

  /** A call as Twilio's Calls resource shows it (times in RFC 2822, as Twilio writes them). */
  private callJson(c: FakeCall) {
    const started = c.direction === 'outbound-api' ? c.startedAt : c.createdAt;
    return {
      sid: c.sid,
      account_sid: this.accountSid,
      parent_call_sid: c.parentSid ?? null,
      from: c.from,
      to: c.to,
      status: c.status,
      direction: c.direction ?? (c.parentSid ? 'outbound-dial' : 'inbound'),
      answered_by: c.answeredBy ?? null,
      date_created: rfc2822(c.createdAt),
      date_updated: rfc2822(c.endedAt ?? c.createdAt),
      start_time: started === undefined ? null : rfc2822(started),
      end_time: c.endedAt ? rfc2822(c.endedAt) : null,
      duration: c.endedAt ? String(c.answeredAt ? Math.round((c.endedAt - c.answeredAt) / 1000) : 0) : null,
      api_version: '2010-04-01',
      uri: `/2010-04-01/Accounts/${this.accountSid}/Calls/${c.sid}.json`,
    };
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
