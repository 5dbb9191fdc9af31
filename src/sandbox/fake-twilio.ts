import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeCallee } from './fake-callee';
import { FakeMessages } from './fake-messages';
import { FakeRecordings } from './fake-recordings';
import { LoopbackServer } from './loopback-server';
import { lingerFor, twilioPage } from './twilio-rest';

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
  /** The conference the call was put in by `<Dial><Conference>` (its friendly name), kept after it left. */
  conference?: string;
}

/** Twilio's statuses of a conference: `init` until a participant that starts it enters. */
export type FakeConferenceStatus = 'init' | 'in-progress' | 'completed';

/** One call in a conference, as Twilio's Participants resource shows it while the call is in the room. */
export interface FakeParticipant {
  callSid: string;
  startConferenceOnEnter: boolean;
  endConferenceOnExit: boolean;
  joinedAt: number;
}

/**
 * One conference: Twilio creates it (`CF…`) when the first call dials its friendly name while no conference
 * of that name is live, and ends it when the last participant leaves or one with `endConferenceOnExit`
 * does; the next call to dial the name gets a new one.
 */
export interface FakeConference {
  sid: string;
  friendlyName: string;
  status: FakeConferenceStatus;
  createdAt: number;
  updatedAt: number;
  /** The calls in the room now; a call that left is no longer a participant (Twilio answers 404). */
  participants: Map<string, FakeParticipant>;
  reasonEnded?: string;
  callSidEndingConference?: string;
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

/** Waits `ms` without keeping the process alive: an injected late answer must not hold up a test run's exit. */

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
 * - `GET  /2010-04-01/Accounts/{AC}/Conferences.json` (FriendlyName, Status, PageSize, Page), newest first,
 *   `GET .../Conferences/{CF}.json` and `GET .../Conferences/{CF}/Participants/{CA}.json` (404 once the
 *   call is not in the room): the conferences `<Dial><Conference>` made (see `join` and `leave`)
 * - the Recordings resource of a call and of the account, with call recordings that go on across
 *   redirects and `<Dial record>` recordings that end with their `<Dial>` (see fake-recordings.ts)
 * - `POST`/`GET /2010-04-01/Accounts/{AC}/Messages.json` and `GET .../Messages/{SM}.json`: texts, their
 *   status callbacks, and people texting the account's numbers (see fake-messages.ts)
 * - `GET  /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json?PhoneNumber=...`
 * - `POST /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers/{PN}.json` (the voice, fallback and status
 *   webhooks and their methods, VoiceApplicationSid)
 *
 * Two more endpoints, outside Twilio's paths and with the same Basic auth, let the sandbox's tools play
 * the part of the phone network and look at what the bridge sent:
 * - `POST /sandbox/incoming-calls` (CallSid, From, To): a call arrives, so Twilio knows it before it
 *   posts the voice webhook, as the real one does; the answer carries the call's `call_token`, for the
 *   webhook's `CallToken`;
 * - `GET /sandbox/requests?CallSid=CA…`: the REST requests received for that call (its updates, its
 *   recordings', and the texts whose status callback names it), with their answers;
 * - `POST /sandbox/calls/{CA}/answer` (Twiml): Twilio runs the voice webhook's answer on the call;
 * - `POST /sandbox/calls/{CA}/gather` (Digits or SpeechResult, or neither for a timeout): the caller
 *   answers the `<Gather>` the call waits on; answered with the TwiML its action returned;
 * - `POST /sandbox/calls/{CA}/hangup`: the caller hangs up (its recordings complete a few seconds later).
 */
export class FakeTwilioApi extends LoopbackServer {
  readonly requests: ReceivedTwilioRequest[] = [];
  readonly calls = new Map<string, FakeCall>();
  readonly numbers = new Map<string, FakeNumber>();
  /** Every conference by its `CF…` sid, ended ones included. */
  readonly conferences = new Map<string, FakeConference>();
  /** Consumed one per request to the Calls resource, before normal handling. */
  readonly injections: Injection[] = [];
  /** Outbound calls (`calls.create`) and the callee that plays them. */
  readonly callee: FakeCallee;
  /** Call recordings (`<Start><Recording>`, `<Dial record>`, the Recordings REST resource; see fake-recordings.ts). */
  readonly recordings: FakeRecordings;
  /** Texts (the Messages resource, status callbacks, people texting the account's numbers; see fake-messages.ts). */
  readonly messages: FakeMessages;
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
    this.recordings = new FakeRecordings({
      accountSid,
      baseUrl: () => this.url,
      calls: this.calls,
      children: (sid) => this.children(sid),
      roomMates: (call) => this.roomMates(call),
      deliver: (kind, callSid, url, params) => this.callee.deliver(kind, callSid, url, params),
    });
    this.messages = new FakeMessages({
      accountSid,
      ownsNumber: (phoneNumber) => [...this.numbers.values()].some((n) => n.phoneNumber === phoneNumber),
      serviceSender: () => [...this.numbers.values()][0]?.phoneNumber,
      deliver: (kind, callSid, url, params) => this.callee.deliver(kind, callSid, url, params),
    });
  }

  override async stop(): Promise<void> {
    this.callee.stop();
    this.recordings.stop();
    this.messages.stop();
    await super.stop();
  }

  addCall(sid: string, from = '+14155550199', to = '+14155550100', status: FakeCallStatus = 'in-progress'): FakeCall {
    const call: FakeCall = { sid, from, to, status, createdAt: Date.now() };
    this.calls.set(sid, call);
    return call;
  }

  /**
   * Plays TwiML on a live call as Twilio does, as far as the bridge's TwiML goes: `<Start><Recording>`
   * starts a call recording (see fake-recordings.ts); each `<Dial>` target (`<Number>`, `<Sip>`, or a bare
   * number) becomes a child leg with `parent_call_sid`, recorded by the `<Dial>` when it has `record`;
   * TwiML that ends without a `<Dial>` but with `<Hangup/>` completes the call; a `<Gather>` waits for
   * `gather` (the callee of a placed call answers it by itself). Used when a call is answered with the
   * bridge's TwiML and when it is redirected.
   */
  playTwiml(sid: string, twiml: string): void {
    const call = this.calls.get(sid);
    if (!call) throw new Error(`no call ${sid}`);
    // New TwiML takes the call out of the conference it was in, if any.
    this.leave(call);
    call.twiml = twiml;
    const legs: FakeCall[] = [];
    const dial = /<Dial\b([^>]*)>([\s\S]*?)<\/Dial>/.exec(twiml);
    const conference = dial && /<Conference\b([^>]*)>([^<]*)<\/Conference>/.exec(dial[2]!);
    if (conference) {
      // A conference is not a leg of the call: the call joins the room, where others may join it.
      call.conference = unescapeXml(conference[2]!.trim());
      this.join(call, call.conference, conference[1]!);
    } else if (dial) {
      const callerId = /callerId="([^"]*)"/.exec(dial[1]!)?.[1];
      const nouns = [...dial[2]!.matchAll(/<(Number|Sip)\b[^>]*>([^<]*)<\/\1>/g)].map((m) => unescapeXml(m[2]!.trim()));
      const targets = nouns.length ? nouns : [unescapeXml(dial[2]!.trim())];
      for (const to of targets) {
        const childSid = `CA${randomBytes(16).toString('hex')}`;
        const leg: FakeCall = {
          sid: childSid,
          from: callerId ? unescapeXml(callerId) : call.from,
          to,
          status: to.startsWith('sip:') ? 'in-progress' : 'ringing',
          parentSid: sid,
          createdAt: Date.now(),
        };
        this.calls.set(childSid, leg);
        legs.push(leg);
      }
    }
    // A <Gather> holds the TwiML until it is answered: what follows it runs only then (through its action).
    const running = /<Gather\b/.test(twiml) ? twiml.slice(0, twiml.indexOf('<Gather')) : twiml;
    this.recordings.fromTwiml(call, running, legs);
    if (!dial && !conference && /<Hangup\s*\/>/.test(twiml)) this.end(call, 'completed');
  }

  /** The other calls in the live conference `call` is in. */
  roomMates(call: FakeCall): FakeCall[] {
    if (!call.conference) return [];
    return this.inConference(call.conference).filter((c) => c.sid !== call.sid);
  }

  /**
   * Answers the `<Gather>` the call's TwiML is waiting on, as the caller would (a key, or speech), or lets
   * it time out: its action is requested, signed, with what was heard, and the TwiML it answers is played.
   * Returns that TwiML, or undefined when the call has no `<Gather>` with an action.
   */
  async gather(sid: string, input: { digits?: string; speech?: string } = {}): Promise<string | undefined> {
    const call = this.calls.get(sid);
    const gather = call?.twiml && /<Gather\b([^>]*)>/.exec(call.twiml);
    const action = gather && /\baction="([^"]*)"/.exec(gather[1]!)?.[1];
    if (!call || !action) return undefined;
    const result: Record<string, string> = input.digits ? { Digits: input.digits } : input.speech !== undefined ? { SpeechResult: input.speech, Confidence: '0.92' } : {};
    const sent = await this.callee.deliver('gather', sid, unescapeXml(action), {
      AccountSid: this.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: sid,
      CallStatus: call.status,
      Called: call.to,
      Caller: call.from,
      Direction: call.direction ?? 'inbound',
      From: call.from,
      To: call.to,
      ...result,
    });
    if (sent.status !== 200) throw new Error(`the gather's action answered ${sent.status}: ${sent.body}`);
    if (!FINAL.has(call.status)) this.playTwiml(sid, sent.body);
    return sent.body;
  }

  /** The caller (or whoever is on the call) hangs up: the call and its legs end, and with them its recordings. */
  hangUp(sid: string): void {
    const call = this.calls.get(sid);
    if (!call || FINAL.has(call.status)) return;
    this.end(call, 'completed');
    this.callee.changed(call);
  }

  /** The calls in the live conference named `room` (not those of an earlier, ended one of that name). */
  inConference(room: string): FakeCall[] {
    const live = this.liveConference(room);
    if (!live) return [];
    return [...live.participants.keys()].map((sid) => this.calls.get(sid)!).filter((c) => c && c.conference === room && !FINAL.has(c.status));
  }

  /** The conference named `room` that has not ended, if there is one. */
  liveConference(room: string): FakeConference | undefined {
    this.sweep();
    return [...this.conferences.values()].find((c) => c.friendlyName === room && c.status !== 'completed');
  }

  /** Calls that ended behind the fake's back (a test setting `status`) leave their conference as a hang-up would. */
  private sweep(): void {
    for (const conference of this.conferences.values()) {
      if (conference.status === 'completed') continue;
      for (const sid of [...conference.participants.keys()]) {
        const call = this.calls.get(sid);
        if (!call || FINAL.has(call.status)) {
          if (call) this.leave(call);
          else conference.participants.delete(sid);
        }
      }
    }
  }

  /** `call` enters conference `room` (`<Conference>`'s attributes as written, for its start and end flags). */
  private join(call: FakeCall, room: string, attributes: string): void {
    const now = Date.now();
    let conference = this.liveConference(room);
    if (!conference) {
      conference = { sid: `CF${randomBytes(16).toString('hex')}`, friendlyName: room, status: 'init', createdAt: now, updatedAt: now, participants: new Map() };
      this.conferences.set(conference.sid, conference);
    }
    const starts = !/\bstartConferenceOnEnter="false"/.test(attributes);
    const ends = /\bendConferenceOnExit="true"/.test(attributes);
    conference.participants.set(call.sid, { callSid: call.sid, startConferenceOnEnter: starts, endConferenceOnExit: ends, joinedAt: now });
    if (starts && conference.status === 'init') conference.status = 'in-progress';
    conference.updatedAt = now;
    // Everyone in the room hears the newcomer, and their recordings with them.
    for (const sid of conference.participants.keys()) {
      const other = this.calls.get(sid);
      if (other) this.recordings.listen(other);
    }
  }

  /**
   * `call` leaves the conference it is in (redirected, or hung up). A participant with
   * `endConferenceOnExit` ends the conference, as does the last one to leave; the others' `<Dial>` then
   * returns and their TwiML goes on, which for TwiML with nothing after the `<Dial>` is a hang-up.
   */
  private leave(call: FakeCall): void {
    const conference = [...this.conferences.values()].find((c) => c.status !== 'completed' && c.participants.has(call.sid));
    if (!conference) return;
    const participant = conference.participants.get(call.sid)!;
    conference.participants.delete(call.sid);
    conference.updatedAt = Date.now();
    if (!participant.endConferenceOnExit && conference.participants.size > 0) return;
    conference.status = 'completed';
    conference.reasonEnded = participant.endConferenceOnExit ? 'participant-with-end-conference-on-exit-left' : 'last-participant-left';
    conference.callSidEndingConference = call.sid;
    for (const sid of [...conference.participants.keys()]) {
      conference.participants.delete(sid);
      const other = this.calls.get(sid);
      if (!other || FINAL.has(other.status)) continue;
      if (!other.twiml || /<\/Dial>\s*<\/Response>\s*$/.test(other.twiml)) {
        this.end(other, 'completed');
        this.callee.changed(other);
      }
    }
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
    this.leave(call);
    this.recordings.callEnded(call);
  }

  private endLeg(call: FakeCall): void {
    if (FINAL.has(call.status)) return;
    call.status = 'completed';
    call.endedAt = Date.now();
    this.leave(call);
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
    // When the request arrived (its headers parsed), not when this process got round to its body.
    const receivedAt = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const auth = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');
    const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const form = Object.fromEntries(params);
    const record: ReceivedTwilioRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, form, auth, receivedAt };
    this.requests.push(record);

    const send = (status: number, body: unknown) => {
      record.answered = status;
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const error = (status: number, code: number, message: string) =>
      send(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
    const raw = (status: number, contentType: string, body: Buffer) => {
      record.answered = status;
      if (!res.destroyed) res.writeHead(status, { 'content-type': contentType, 'content-length': body.length }).end(body);
    };

    if (auth !== `${this.accountSid}:${this.authToken}`) return error(401, 20003, 'Authenticate');
    if (await this.recordings.handle(req.method ?? '', url.pathname, params, { send, error, raw })) return;
    if (await this.messages.handle(req.method ?? '', url.pathname, url.searchParams, params, { send, error })) return;
    const base = `/2010-04-01/Accounts/${this.accountSid}`;
    if (url.pathname === `${base}/Calls.json` && req.method === 'POST') return this.callee.create(params, { send, error });

    if (url.pathname === '/sandbox/incoming-calls' && req.method === 'POST') {
      const { CallSid: sid, From: from, To: to } = form;
      if (!sid || !/^CA[0-9a-f]{32}$/i.test(sid) || !from || !to) return error(400, 21201, 'CallSid (CA…), From and To are required');
      // A call that has just arrived: the voice webhook is answered with TwiML that connects it.
      const call = this.addCall(sid, from, to, 'in-progress');
      // Twilio issues a CallToken with every inbound call and posts it with the voice webhook.
      const callToken = `sandbox-call-token-${randomBytes(12).toString('hex')}`;
      this.callTokens.set(callToken, from);
      return send(201, { sid: call.sid, from: call.from, to: call.to, status: call.status, call_token: callToken });
    }
    if (url.pathname === '/sandbox/requests' && req.method === 'GET') {
      const sid = url.searchParams.get('CallSid') ?? undefined;
      const ofCall = (r: ReceivedTwilioRequest) =>
        r.method === 'POST' && r !== record && (!sid || r.path.includes(`/Calls/${sid}`) || (r.path.endsWith('/Messages.json') && (r.form.StatusCallback ?? '').includes(sid)));
      const requests = this.requests
        .filter((r) => ofCall(r) && (r.path.includes('/Calls/') || r.path.endsWith('/Messages.json')))
        .map((r) => ({ method: r.method, path: r.path, form: r.form, answered: r.answered ?? null, received_at: new Date(r.receivedAt).toISOString() }));
      return send(200, { requests });
    }
    const sandboxCall = /^\/sandbox\/calls\/(CA[0-9a-f]{32})\/(answer|gather|hangup)$/i.exec(url.pathname);
    if (sandboxCall && req.method === 'POST') {
      const [, sid, what] = sandboxCall;
      const call = this.calls.get(sid!);
      if (!call) return error(404, 20404, `No call ${sid}`);
      if (what === 'answer') {
        if (!form.Twiml) return error(400, 21201, 'Twiml is required');
        this.playTwiml(sid!, form.Twiml);
      } else if (what === 'gather') {
        const twiml = await this.gather(sid!, { digits: form.Digits, speech: form.SpeechResult }).catch((err: Error) => err);
        if (twiml instanceof Error) return error(502, 11200, twiml.message);
        if (twiml === undefined) return error(400, 21201, 'The call is not waiting on a <Gather>');
        return send(200, { sid, status: call.status, twiml });
      } else this.hangUp(sid!);
      return send(200, { sid, status: call.status, recordings: this.recordings.of(sid!).map((r) => ({ sid: r.sid, status: r.status })) });
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
      if (injection?.kind === 'delay') await lingerFor(injection.ms);
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
        // A redirect ends whatever the call was doing, its <Dial> legs included (and a <Dial>'s own
        // recording with them; a recording of the call goes on), then runs the new TwiML.
        for (const child of this.children(call.sid)) this.endLeg(child);
        this.recordings.dialEnded(call);
        if (form.Twiml !== undefined) this.playTwiml(call.sid, form.Twiml);
      }
      if (form.Status === 'completed') this.end(call, 'completed');
      // Canceling leaves a call that has been answered alone (Twilio's documented behaviour).
      if (form.Status === 'canceled' && (call.status === 'queued' || call.status === 'ringing')) this.end(call, 'canceled');
      this.callee.changed(call);
      const answer = this.callJson(call);
      if (injection?.kind === 'late') await lingerFor(injection.ms);
      return send(200, answer);
    }

    if (url.pathname === `${base}/Calls.json` && req.method === 'GET') {
      const q = url.searchParams;
      const list = [...this.calls.values()].filter((c) => matchesCallFilters(c, q)).sort((a, b) => b.createdAt - a.createdAt);
      return send(200, twilioPage('calls', `${base}/Calls.json`, q, list, (c) => this.callJson(c)));
    }

    if (url.pathname === `${base}/Conferences.json` && req.method === 'GET') {
      this.sweep();
      const q = url.searchParams;
      const list = [...this.conferences.values()]
        .filter((c) => (!q.has('FriendlyName') || c.friendlyName === q.get('FriendlyName')) && (!q.has('Status') || c.status === q.get('Status')))
        .sort((a, b) => b.createdAt - a.createdAt);
      return send(200, twilioPage('conferences', `${base}/Conferences.json`, q, list, (c) => this.conferenceJson(c)));
    }
    const conferenceMatch = url.pathname.match(/^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Conferences\/(CF[0-9a-f]{32})(?:\/Participants\/(CA[0-9a-f]{32}))?\.json$/i);
    if (conferenceMatch && req.method === 'GET') {
      this.sweep();
      const conference = conferenceMatch[1] === this.accountSid ? this.conferences.get(conferenceMatch[2]!) : undefined;
      const participant = conferenceMatch[3] ? conference?.participants.get(conferenceMatch[3]) : undefined;
      if (!conference || (conferenceMatch[3] && !participant)) return error(404, 20404, `The requested resource ${url.pathname} was not found`);
      return send(200, participant ? this.participantJson(conference, participant) : this.conferenceJson(conference));
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

  /** A conference as Twilio's Conferences resource shows it. */
  private conferenceJson(c: FakeConference) {
    const uri = `/2010-04-01/Accounts/${this.accountSid}/Conferences/${c.sid}`;
    return {
      sid: c.sid,
      account_sid: this.accountSid,
      friendly_name: c.friendlyName,
      status: c.status,
      region: 'us1',
      date_created: rfc2822(c.createdAt),
      date_updated: rfc2822(c.updatedAt),
      reason_conference_ended: c.reasonEnded ?? null,
      call_sid_ending_conference: c.callSidEndingConference ?? null,
      api_version: '2010-04-01',
      uri: `${uri}.json`,
      subresource_uris: { participants: `${uri}/Participants.json`, recordings: `${uri}/Recordings.json` },
    };
  }

  /** A call in a conference as Twilio's Participants resource shows it. */
  private participantJson(c: FakeConference, p: FakeParticipant) {
    return {
      account_sid: this.accountSid,
      call_sid: p.callSid,
      conference_sid: c.sid,
      label: null,
      call_sid_to_coach: null,
      coaching: false,
      date_created: rfc2822(p.joinedAt),
      date_updated: rfc2822(p.joinedAt),
      end_conference_on_exit: p.endConferenceOnExit,
      start_conference_on_enter: p.startConferenceOnEnter,
      muted: false,
      hold: false,
      status: 'connected',
      queue_time: '0',
      uri: `/2010-04-01/Accounts/${this.accountSid}/Conferences/${c.sid}/Participants/${p.callSid}.json`,
    };
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
