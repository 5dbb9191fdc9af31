/**
 * The outbound half of the fake Twilio API: `POST Calls.json` (calls.create, with Twilio's checks and
 * error codes) and a scriptable callee that plays each created call the way Twilio does: status
 * callbacks (initiated, ringing, answered, completed; with CallStatus, SequenceNumber, Timestamp,
 * CallDuration), the answer URL requested when the callee picks up (its TwiML then played on the call),
 * and asynchronous AMD verdicts, every request signed with a real X-Twilio-Signature (the auth token
 * over the full URL and the sorted form parameters).
 */
import { randomBytes } from 'node:crypto';
import { getExpectedTwilioSignature } from 'twilio';
import type { FakeCall, FakeCallStatus, Injection } from './fake-twilio';

/** How the person (or machine) at the other end behaves. */
export interface CalleeScript {
  /**
   * `human`, `machine`, `fax`: picks up (the answer URL is requested). `busy`, `no-answer`, `failed`: the
   * call ends so, after `ringMs`. `unanswered`: rings until canceled or the call's Timeout runs out.
   * @defaultValue 'human'
   */
  answer: 'human' | 'machine' | 'fax' | 'busy' | 'no-answer' | 'failed' | 'unanswered';
  /** Ringing before the answer. @defaultValue 30 */
  ringMs?: number;
  /** Before the first callback (Twilio's own queue). @defaultValue 0 */
  startDelayMs?: number;
  /** AMD's verdict; by default human/fax as answered, machine_start (Enable) or machine_end_beep (DetectMessageEnd) for a machine. */
  answeredBy?: string;
  /** From the answer to the AMD callback. @defaultValue 100 */
  amdDelayMs?: number;
  /** The callee hangs up this long after answering; by default they stay until the call is ended. */
  hangUpAfterMs?: number;
  /** How long a `<Say>` before `<Hangup/>` plays before Twilio reports the call finished. @defaultValue 150 */
  sayMs?: number;
  /**
   * The key pressed when the answer's TwiML has a `<Gather>`; unset, nothing is pressed and the gather
   * times out (with `actionOnEmptyResult`, its action is requested with empty Digits).
   */
  press?: string;
  /** From the answer to the key, or to the gather's timeout. @defaultValue 30 */
  pressAfterMs?: number;
  /**
   * What the callee says when the TwiML has a `<Gather input="… speech …">` and no key is pressed: sent as
   * `SpeechResult` (with a `Confidence`), as Twilio's speech recognition reports it.
   */
  say?: string;
}

/** A request the fake sent to a webhook URL (answer, status callback, AMD callback). */
export interface SentWebhook {
  kind: 'answer' | 'status' | 'amd' | 'gather' | 'recording' | 'message';
  url: string;
  callSid: string;
  params: Record<string, string>;
  /** HTTP status of the answer; 0 when the request failed. */
  status: number;
  body: string;
  at: number;
}

export interface PlacedCall {
  call: FakeCall;
  /** The create request's form, repeated keys included. */
  params: URLSearchParams;
  script: CalleeScript;
  /** TwiML the answer URL returned. */
  answerTwiml?: string;
  /** The completed callback has been sent (or is on its way). */
  finished: boolean;
}

interface Reply {
  send(status: number, body: unknown): void;
  error(status: number, code: number, message: string): void;
}

const E164 = /^\+[1-9]\d{6,14}$/;
const SIP_URI = /^sips?:[^\s@]+@\S+$/i;
const FINAL: ReadonlySet<FakeCallStatus> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');

export class FakeCallee {
  readonly placed = new Map<string, PlacedCall>();
  readonly webhooks: SentWebhook[] = [];
  /** Scripts by the number called; `defaultScript` for the rest. */
  readonly scripts = new Map<string, CalleeScript>();
  defaultScript: CalleeScript = { answer: 'human' };
  /**
   * A script chosen by a rule on the number and how many times it was called before (0 for the first
   * call), for numbers without a script of their own; undefined from the rule means `defaultScript`.
   */
  scriptRule: ((to: string, earlierCalls: number) => CalleeScript | undefined) | undefined;
  /** Calls created (201) to each number, the fake's own count of dials. */
  readonly dials = new Map<string, number>();
  /** Refusals by the number called, e.g. 21215 for a destination outside the geo permissions. */
  readonly refusals = new Map<string, { status: number; code: number; message: string }>();
  /** Consumed one per create request (`late`: the call is created at once, the answer comes after `ms`). */
  readonly createInjections: Injection[] = [];
  /** Caller IDs verified on the account, beside its phone numbers. */
  readonly verifiedCallerIds = new Set<string>();
  /**
   * Where webhooks go: the URL as given (signed as given) with its origin replaced by this one, e.g.
   * the bridge's loopback address for a URL built from PUBLIC_URL. Unset: the URL itself.
   */
  deliverTo: string | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly aborts = new AbortController();
  /** Each call's next status-callback SequenceNumber. */
  private readonly sequence = new Map<string, number>();

  constructor(
    private readonly api: {
      accountSid: string;
      authToken: string;
      calls: Map<string, FakeCall>;
      /** The PN sid of one of the account's numbers, or undefined. */
      ownsNumber(phoneNumber: string): string | undefined;
      /** The caller's number of the inbound call that CallToken `token` was issued for. */
      callerOfToken(token: string): string | undefined;
      /** Runs TwiML on the call as the update path does (child legs for `<Dial>`, `<Hangup/>` ends it). */
      playTwiml(sid: string, twiml: string): void;
      /** Ends the call and its child legs. */
      end(call: FakeCall, status: FakeCallStatus): void;
      callJson(call: FakeCall): unknown;
    },
  ) {}

  /** `POST Calls.json`: Twilio's checks, then the call is created (queued) and its callee starts playing. */
  async create(form: URLSearchParams, reply: Reply): Promise<void> {
    const injection = this.createInjections.shift();
    if (injection?.kind === 'hang') return;
    if (injection?.kind === 'delay') await this.sleep(injection.ms);
    if (injection?.kind === 'error') return reply.error(injection.status, injection.code, injection.message ?? `injected ${injection.status}`);

    const to = form.get('To');
    const from = form.get('From');
    const answerUrl = form.get('Url');
    if (!to) return reply.error(400, 21201, "No 'To' number is specified");
    if (!from) return reply.error(400, 21213, "No 'From' number is specified");
    if (!answerUrl && !form.get('Twiml') && !form.get('ApplicationSid')) {
      return reply.error(400, 21205, "A 'Url', 'Twiml' or 'ApplicationSid' parameter is required");
    }
    if (answerUrl && !/^https?:\/\/[^\s/]+/.test(answerUrl)) return reply.error(400, 21205, `Url is not a valid URL: ${answerUrl}`);
    if (!E164.test(to) && !SIP_URI.test(to)) return reply.error(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    const token = form.get('CallToken');
    const forwarded = token !== null && this.api.callerOfToken(token) === from;
    if (!this.api.ownsNumber(from) && !this.verifiedCallerIds.has(from) && !forwarded) {
      return reply.error(
        400,
        21210,
        `The source phone number provided, ${from}, is not yet verified for your account. You may only make calls from phone numbers that you've verified or purchased from Twilio.`,
      );
    }
    const refusal = this.refusals.get(to);
    if (refusal) return reply.error(refusal.status, refusal.code, refusal.message);
    const detection = form.get('MachineDetection');
    if (detection !== null && detection !== 'Enable' && detection !== 'DetectMessageEnd') {
      return reply.error(400, 21218, `MachineDetection must be Enable or DetectMessageEnd, not ${detection}`);
    }

    const sid = `CA${randomBytes(16).toString('hex')}`;
    const call: FakeCall = { sid, from, to, status: 'queued', direction: 'outbound-api', createdAt: Date.now() };
    this.api.calls.set(sid, call);
    const earlier = this.dials.get(to) ?? 0;
    this.dials.set(to, earlier + 1);
    const script = this.scripts.get(to) ?? this.scriptRule?.(to, earlier) ?? this.defaultScript;
    const placed: PlacedCall = { call, params: form, script: { ...script }, finished: false };
    this.placed.set(sid, placed);
    void this.play(placed);
    const answer = this.api.callJson(call);
    if (injection?.kind === 'late') await this.sleep(injection.ms);
    reply.send(201, answer);
  }

  /**
   * Tells the callee that `call` changed outside its script (an update: hung up, canceled, redirected).
   * Twilio reports the end once the TwiML is done, so a `<Say>` before the hang-up is given `sayMs`.
   */
  changed(call: FakeCall): void {
    const placed = this.placed.get(call.sid);
    if (!placed || placed.finished || !FINAL.has(call.status)) return;
    const status = call.status;
    if (call.twiml && /<Say[\s>]/.test(call.twiml)) this.after(placed.script.sayMs ?? 150, () => this.finish(placed, status));
    else this.finish(placed, status);
  }

  /** The callee (or whoever the call was transferred to) hangs up now. */
  hangUp(callSid: string): void {
    const placed = this.placed.get(callSid);
    if (placed) this.finish(placed, 'completed');
  }

  /** Stops every scripted call and in-flight webhook (the fake is stopping). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.aborts.abort();
  }

  /** The callee's side of one call, from Twilio's queue to the end. */
  private async play(p: PlacedCall): Promise<void> {
    const s = p.script;
    await this.sleep(s.startDelayMs ?? 0);
    if (p.finished || FINAL.has(p.call.status)) return;
    p.call.startedAt = Date.now();
    await this.status(p, 'initiated', 'initiated');
    await this.sleep(5);
    if (p.finished || FINAL.has(p.call.status)) return;
    p.call.status = 'ringing';
    await this.status(p, 'ringing', 'ringing');
    await this.sleep(s.ringMs ?? 30);
    if (p.finished || FINAL.has(p.call.status)) return;
    if (s.answer === 'busy' || s.answer === 'no-answer' || s.answer === 'failed') return this.finish(p, s.answer);
    if (s.answer === 'unanswered') {
      const timeoutS = Number(p.params.get('Timeout') ?? 60);
      this.after(timeoutS * 1000, () => this.finish(p, 'no-answer'));
      return;
    }

    p.call.status = 'in-progress';
    p.call.answeredAt = Date.now();
    const detection = p.params.get('MachineDetection');
    const asyncAmd = p.params.get('AsyncAmd') === 'true';
    const verdict = s.answeredBy ?? (s.answer === 'machine' ? (detection === 'DetectMessageEnd' ? 'machine_end_beep' : 'machine_start') : s.answer);
    const answerUrl = p.params.get('Url');
    if (answerUrl) {
      const params = this.callParams(p, 'in-progress');
      // Synchronous AMD holds the answer URL until the verdict; asynchronous AMD sends it on its own.
      if (detection && !asyncAmd) {
        p.call.answeredBy = verdict;
        params.AnsweredBy = verdict;
      }
      const sent = await this.deliver('answer', p.call.sid, answerUrl, params);
      p.answerTwiml = sent.body;
      if (sent.status === 200 && !FINAL.has(p.call.status)) this.api.playTwiml(p.call.sid, sent.body);
      if (sent.status === 200) this.gather(p, sent.body);
    }
    await this.status(p, 'answered', 'in-progress');
    this.changed(p.call);
    if (detection && asyncAmd) {
      this.after(s.amdDelayMs ?? 100, () => {
        if (p.finished) return;
        p.call.answeredBy = verdict;
        const amdUrl = p.params.get('AsyncAmdStatusCallback');
        if (amdUrl) {
          void this.deliver('amd', p.call.sid, amdUrl, {
            AccountSid: this.api.accountSid,
            CallSid: p.call.sid,
            AnsweredBy: verdict,
            MachineDetectionDuration: String(s.amdDelayMs ?? 100),
          });
        }
      });
    }
    if (s.hangUpAfterMs !== undefined) this.after(s.hangUpAfterMs, () => this.finish(p, 'completed'));
  }

  /**
   * A `<Gather>` in the TwiML: after `pressAfterMs` the script's key is pressed, or the gather times out;
   * either way its action is requested as Twilio does (a timeout only with `actionOnEmptyResult`), and the
   * TwiML it answers is played on the call.
   */
  private gather(p: PlacedCall, twiml: string): void {
    const gather = /<Gather\b([^>]*)>/.exec(twiml);
    const action = gather && /\baction="([^"]*)"/.exec(gather[1]!)?.[1];
    if (!gather || !action) return;
    const url = action.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    const onEmpty = /\bactionOnEmptyResult="true"/.test(gather[1]!);
    this.after(p.script.pressAfterMs ?? 30, () => {
      if (p.finished || FINAL.has(p.call.status)) return;
      const digits = p.script.press ?? '';
      const speech = !digits && p.script.say !== undefined && /\binput="[^"]*speech/.test(gather[1]!) ? p.script.say : undefined;
      if (!digits && speech === undefined && !onEmpty) return;
      const result: Record<string, string> = speech !== undefined ? { SpeechResult: speech, Confidence: '0.92' } : { Digits: digits };
      void this.deliver('gather', p.call.sid, url, { ...this.callParams(p, 'in-progress'), ...result }).then((sent) => {
        if (sent.status !== 200 || FINAL.has(p.call.status)) return;
        this.api.playTwiml(p.call.sid, sent.body);
        this.changed(p.call);
      });
    });
  }

  private finish(p: PlacedCall, status: FakeCallStatus): void {
    if (p.finished) return;
    p.finished = true;
    this.api.end(p.call, status);
    const duration = p.call.answeredAt ? Math.round(((p.call.endedAt ?? Date.now()) - p.call.answeredAt) / 1000) : 0;
    void this.status(p, 'completed', p.call.status, { CallDuration: String(duration) });
  }

  /** A status callback, if the create request asked for `event` (only `completed` when it named none). */
  private async status(p: PlacedCall, event: string, callStatus: string, extra: Record<string, string> = {}): Promise<void> {
    const url = p.params.get('StatusCallback');
    if (!url) return;
    const events = p.params.getAll('StatusCallbackEvent');
    if (!(events.length ? events : ['completed']).includes(event)) return;
    const seq = this.sequence.get(p.call.sid) ?? 0;
    this.sequence.set(p.call.sid, seq + 1);
    await this.deliver('status', p.call.sid, url, {
      ...this.callParams(p, callStatus),
      Timestamp: rfc2822(Date.now()),
      SequenceNumber: String(seq),
      CallbackSource: 'call-progress-events',
      ...extra,
    });
  }

  /** What Twilio sends about a call on every voice request. */
  private callParams(p: PlacedCall, callStatus: string): Record<string, string> {
    return {
      AccountSid: this.api.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: p.call.sid,
      CallStatus: callStatus,
      Called: p.call.to,
      Caller: p.call.from,
      Direction: 'outbound-api',
      From: p.call.from,
      To: p.call.to,
    };
  }

  /**
   * Posts a webhook as Twilio does: form-encoded, signed with the auth token over `url` (as given) and the
   * parameters, sent to `deliverTo` when set. Every request the fake sends goes through here.
   */
  async deliver(kind: SentWebhook['kind'], callSid: string, url: string, params: Record<string, string>): Promise<SentWebhook> {
    const signature = getExpectedTwilioSignature(this.api.authToken, url, params);
    const target = this.deliverTo ? this.deliverTo + url.slice(new URL(url).origin.length) : url;
    const sent: SentWebhook = { kind, url, callSid, params, status: 0, body: '', at: Date.now() };
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signature,
          'i-twilio-idempotency-token': randomBytes(16).toString('hex'),
        },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.any([this.aborts.signal, AbortSignal.timeout(15_000)]),
      });
      sent.status = res.status;
      sent.body = await res.text();
    } catch (err) {
      sent.body = (err as Error).message;
    }
    this.webhooks.push(sent);
    return sent;
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }
}
