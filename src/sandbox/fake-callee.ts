/**
 * The outbound half of the fake Twilio API: `Calls.json` (create, list with filters) and `Calls/{CA}.json`
 * (fetch), and a scriptable callee that plays each created call the way Twilio does: status callbacks
 * (initiated, ringing, answered, completed; with CallStatus, SequenceNumber, Timestamp, CallDuration),
 * the answer URL requested when the callee picks up, and asynchronous AMD verdicts, every request signed
 * with a real X-Twilio-Signature (the auth token over the full URL and the sorted form parameters).
 */
import { randomBytes } from 'node:crypto';
import { getExpectedTwilioSignature } from 'twilio';
import type { FakeCall } from './fake-twilio';

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
  /** How long a `<Say>` redirected to before `<Hangup/>` plays. @defaultValue 150 */
  sayMs?: number;
}

/** A request the fake sent to a webhook URL (answer, status callback, AMD callback). */
export interface SentWebhook {
  kind: 'answer' | 'status' | 'amd';
  url: string;
  callSid: string;
  params: Record<string, string>;
  /** HTTP status of the answer; 0 when the request failed. */
  status: number;
  body: string;
  at: number;
}

/** A scripted answer to the next create request. `late`: the call is created at once, the answer comes after `ms`. */
export type CreateInjection =
  | { kind: 'error'; status: number; code: number; message?: string }
  | { kind: 'hang' }
  | { kind: 'late'; ms: number };

export interface PlacedCall {
  call: FakeCall;
  /** The create request's form, repeated keys included. */
  params: URLSearchParams;
  script: CalleeScript;
  dateCreated: Date;
  startTime?: Date;
  endTime?: Date;
  answeredAt?: number;
  answeredBy?: string;
  /** TwiML the answer URL returned. */
  answerTwiml?: string;
  finished: boolean;
}

interface Reply {
  send(status: number, body: unknown): void;
  error(status: number, code: number, message: string): void;
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** RFC 2822, as Twilio writes dates in its JSON and callbacks. */
const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');

export class FakeCallee {
  readonly placed = new Map<string, PlacedCall>();
  readonly webhooks: SentWebhook[] = [];
  /** Scripts by the number called; `defaultScript` for the rest. */
  readonly scripts = new Map<string, CalleeScript>();
  defaultScript: CalleeScript = { answer: 'human' };
  /** Refusals by the number called, e.g. 21215 for a destination outside the geo permissions. */
  readonly refusals = new Map<string, { status: number; code: number; message: string }>();
  /** Consumed one per create request. */
  readonly createInjections: CreateInjection[] = [];
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
      ownsNumber(phoneNumber: string): string | undefined;
    },
  ) {}

  /** Handles the Calls list, create and fetch requests; false for anything else. */
  async handle(method: string, url: URL, form: URLSearchParams, reply: Reply): Promise<boolean> {
    const base = `/2010-04-01/Accounts/${this.api.accountSid}`;
    if (url.pathname === `${base}/Calls.json`) {
      if (method === 'POST') await this.create(form, reply);
      else if (method === 'GET') this.list(url.searchParams, reply);
      else reply.error(405, 20004, 'Method not allowed');
      return true;
    }
    const fetchMatch = url.pathname.match(/^\/2010-04-01\/Accounts\/AC[0-9a-f]{32}\/Calls\/(CA[0-9a-f]{32})\.json$/i);
    if (fetchMatch && method === 'GET') {
      const call = this.api.calls.get(fetchMatch[1]!);
      if (!call) reply.error(404, 20404, `The requested resource ${url.pathname} was not found`);
      else reply.send(200, this.callJson(call));
      return true;
    }
    return false;
  }

  /** Tells the callee that the update path changed `call` (hung up, canceled, redirected). */
  changed(call: FakeCall): void {
    const placed = this.placed.get(call.sid);
    if (!placed || placed.finished) return;
    if (call.status === 'completed' || call.status === 'canceled') return void this.finish(placed, call.status);
    if (call.twiml && /<Hangup\s*\/>/.test(call.twiml) && !/<Dial[\s>]/.test(call.twiml)) {
      this.after(placed.script.sayMs ?? 150, () => this.finish(placed, 'completed'));
    }
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

  private async create(form: URLSearchParams, reply: Reply): Promise<void> {
    const injection = this.createInjections.shift();
    if (injection?.kind === 'hang') return;
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
    if (!E164.test(to)) return reply.error(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!this.api.ownsNumber(from) && !this.verifiedCallerIds.has(from)) {
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
    const call: FakeCall = { sid, from, to, status: 'queued' };
    this.api.calls.set(sid, call);
    const placed: PlacedCall = { call, params: form, script: { ...(this.scripts.get(to) ?? this.defaultScript) }, dateCreated: new Date(), finished: false };
    this.placed.set(sid, placed);
    void this.play(placed);
    if (injection?.kind === 'late') await this.sleep(injection.ms);
    reply.send(201, this.callJson(call));
  }

  private list(q: URLSearchParams, reply: Reply): void {
    const pageSize = Math.min(Math.max(Number(q.get('PageSize') ?? 50) || 50, 1), 1000);
    const page = Math.max(Number(q.get('Page') ?? 0) || 0, 0);
    const startFilters: Array<[string, (start: Date, value: string) => boolean]> = [
      ['StartTime', (s, v) => s.toISOString().slice(0, 10) === v.slice(0, 10)],
      ['StartTime>', (s, v) => s.getTime() >= Date.parse(v)],
      ['StartTime<', (s, v) => s.getTime() <= (v.length <= 10 ? Date.parse(v) + 86_399_999 : Date.parse(v))],
    ];
    const matching = [...this.placed.values()]
      .filter((p) => {
        if (q.has('To') && p.call.to !== q.get('To')) return false;
        if (q.has('From') && p.call.from !== q.get('From')) return false;
        if (q.has('Status') && p.call.status !== q.get('Status')) return false;
        // Outbound API calls have no parent.
        if (q.has('ParentCallSid')) return false;
        for (const [key, test] of startFilters) {
          const value = q.get(key);
          if (value !== null && (!p.startTime || !test(p.startTime, value))) return false;
        }
        return true;
      })
      .sort((a, b) => b.dateCreated.getTime() - a.dateCreated.getTime());
    const slice = matching.slice(page * pageSize, (page + 1) * pageSize);
    const uri = (n: number) => {
      const next = new URLSearchParams(q);
      next.set('PageSize', String(pageSize));
      next.set('Page', String(n));
      return `/2010-04-01/Accounts/${this.api.accountSid}/Calls.json?${next}`;
    };
    reply.send(200, {
      calls: slice.map((p) => this.callJson(p.call)),
      start: page * pageSize,
      end: page * pageSize + Math.max(slice.length - 1, 0),
      page,
      page_size: pageSize,
      uri: uri(page),
      first_page_uri: uri(0),
      previous_page_uri: page > 0 ? uri(page - 1) : null,
      next_page_uri: (page + 1) * pageSize < matching.length ? uri(page + 1) : null,
    });
  }

  callJson(call: FakeCall) {
    const p = this.placed.get(call.sid);
    const now = rfc2822(new Date());
    return {
      sid: call.sid,
      date_created: p ? rfc2822(p.dateCreated) : now,
      date_updated: now,
      parent_call_sid: null,
      account_sid: this.api.accountSid,
      to: call.to,
      to_formatted: call.to,
      from: call.from,
      from_formatted: call.from,
      phone_number_sid: this.api.ownsNumber(call.from) ?? null,
      status: call.status,
      start_time: p?.startTime ? rfc2822(p.startTime) : null,
      end_time: p?.endTime ? rfc2822(p.endTime) : null,
      duration: p?.endTime ? String(this.duration(p)) : null,
      price: null,
      price_unit: 'USD',
      direction: p ? 'outbound-api' : 'inbound',
      answered_by: p?.answeredBy ?? null,
      api_version: '2010-04-01',
      forwarded_from: null,
      group_sid: null,
      caller_name: null,
      queue_time: '0',
      trunk_sid: null,
      uri: `/2010-04-01/Accounts/${this.api.accountSid}/Calls/${call.sid}.json`,
      subresource_uris: {
        notifications: `/2010-04-01/Accounts/${this.api.accountSid}/Calls/${call.sid}/Notifications.json`,
        recordings: `/2010-04-01/Accounts/${this.api.accountSid}/Calls/${call.sid}/Recordings.json`,
      },
    };
  }

  /** The callee's side of one call, from Twilio's queue to the end. */
  private async play(p: PlacedCall): Promise<void> {
    const s = p.script;
    await this.sleep(s.startDelayMs ?? 0);
    if (p.finished) return;
    p.startTime = new Date();
    await this.status(p, 'initiated', 'initiated');
    await this.sleep(5);
    if (p.finished) return;
    p.call.status = 'ringing';
    await this.status(p, 'ringing', 'ringing');
    await this.sleep(s.ringMs ?? 30);
    if (p.finished) return;
    if (s.answer === 'busy' || s.answer === 'no-answer' || s.answer === 'failed') return this.finish(p, s.answer);
    if (s.answer === 'unanswered') {
      const timeoutS = Number(p.params.get('Timeout') ?? 60);
      this.after(timeoutS * 1000, () => this.finish(p, 'no-answer'));
      return;
    }

    p.call.status = 'in-progress';
    p.answeredAt = Date.now();
    const detection = p.params.get('MachineDetection');
    const asyncAmd = p.params.get('AsyncAmd') === 'true';
    const verdict = s.answeredBy ?? (s.answer === 'machine' ? (detection === 'DetectMessageEnd' ? 'machine_end_beep' : 'machine_start') : s.answer);
    const answerUrl = p.params.get('Url');
    if (answerUrl) {
      const params = this.callParams(p, 'in-progress');
      // Synchronous AMD holds the answer URL until the verdict; asynchronous AMD sends it on its own.
      if (detection && !asyncAmd) {
        p.answeredBy = verdict;
        params.AnsweredBy = verdict;
      }
      const sent = await this.deliver('answer', p, answerUrl, params);
      p.answerTwiml = sent.body;
      p.call.twiml = sent.body;
    }
    await this.status(p, 'answered', 'in-progress');
    if (p.call.twiml !== undefined) this.changed(p.call);
    if (detection && asyncAmd) {
      this.after(s.amdDelayMs ?? 100, () => {
        p.answeredBy = verdict;
        const amdUrl = p.params.get('AsyncAmdStatusCallback');
        if (amdUrl) {
          void this.deliver('amd', p, amdUrl, {
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

  private finish(p: PlacedCall, status: string): void {
    if (p.finished) return;
    p.finished = true;
    p.call.status = status as FakeCall['status'];
    p.endTime = new Date();
    void this.status(p, 'completed', status, { CallDuration: String(this.duration(p)) });
  }

  private duration(p: PlacedCall): number {
    return p.answeredAt && p.endTime ? Math.round((p.endTime.getTime() - p.answeredAt) / 1000) : 0;
  }

  /** A status callback, if the create request asked for `event` (only `completed` when it named none). */
  private async status(p: PlacedCall, event: string, callStatus: string, extra: Record<string, string> = {}): Promise<void> {
    const url = p.params.get('StatusCallback');
    if (!url) return;
    const events = p.params.getAll('StatusCallbackEvent');
    if (!(events.length ? events : ['completed']).includes(event)) return;
    const seq = this.sequence.get(p.call.sid) ?? 0;
    this.sequence.set(p.call.sid, seq + 1);
    await this.deliver('status', p, url, {
      ...this.callParams(p, callStatus),
      Timestamp: rfc2822(new Date()),
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

  private async deliver(kind: SentWebhook['kind'], p: PlacedCall, url: string, params: Record<string, string>): Promise<SentWebhook> {
    const signature = getExpectedTwilioSignature(this.api.authToken, url, params);
    const target = this.deliverTo ? this.deliverTo + url.slice(new URL(url).origin.length) : url;
    const sent: SentWebhook = { kind, url, callSid: p.call.sid, params, status: 0, body: '', at: Date.now() };
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'i-twilio-idempotency-token': randomBytes(16).toString('hex') },
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
