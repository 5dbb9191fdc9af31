/**
 * The recordings half of the fake Twilio API: call recordings as Twilio makes them, with its wire format.
 *
 * Two kinds, as Twilio has them, because they end differently:
 * - a call recording (`<Start><Recording>` in the call's TwiML, or `POST …/Calls/{CA}/Recordings.json`)
 *   records the call itself until it ends: a redirect (a cold transfer's new `<Dial>`, a warm transfer's
 *   move into a conference) does not stop it, so whoever the call reaches next is on it too;
 * - a `<Dial record="…">` recording records that `<Dial>` only, and ends when the `<Dial>` does (a
 *   redirect ends it).
 *
 * Each recording keeps `heard`: every party connected to the call while it was recording and not paused
 * (the SIP leg to the agent, a transfer's number, a conference's other participants), which is how a test
 * shows that the person who took a transfer is on the recording. A finished recording is `processing`
 * until `processingMs` later it is `completed`, when its status callback (signed, form-encoded, with
 * Twilio's parameters) is sent if its events asked for it.
 *
 * REST: `POST …/Calls/{CA}/Recordings.json` (RecordingChannels, RecordingTrack, RecordingStatusCallback,
 * RecordingStatusCallbackEvent), `GET …/Calls/{CA}/Recordings.json`, `GET …/Calls/{CA}/Recordings/{RE}.json`,
 * `POST …/Calls/{CA}/Recordings/{RE}.json` (Status=paused|in-progress|stopped, PauseBehavior=skip|silence;
 * `Twilio.CURRENT` for the call's live recording), `GET …/Recordings/{RE}.json` and the media at
 * `…/Recordings/{RE}` (`.wav`): silence as long as the recording.
 */
import { randomBytes } from 'node:crypto';
import type { FakeCall, FakeCallStatus, Injection } from './fake-twilio';
import { performInjected, twilioPage } from './twilio-rest';
import type { SentWebhook } from './fake-callee';

export type FakeRecordingStatus = 'in-progress' | 'paused' | 'stopped' | 'processing' | 'completed' | 'absent';

export interface FakeRecording {
  sid: string;
  callSid: string;
  /** Twilio's RecordingSource: `StartCallRecordingAPI` for a call recording, `DialVerb` for `<Dial record>`. */
  source: 'StartCallRecordingAPI' | 'DialVerb';
  /** How it was started: the TwiML verb or the REST request. */
  startedBy: 'Start' | 'REST' | 'Dial';
  channels: 1 | 2;
  track: 'inbound' | 'outbound' | 'both';
  status: FakeRecordingStatus;
  startedAt: number;
  updatedAt: number;
  endedAt?: number;
  /** Time spent paused with PauseBehavior=skip: left out of the duration. */
  skippedMs: number;
  pausedAt?: number;
  pauseBehavior?: 'skip' | 'silence';
  /** Each pause and resume, in order, as Twilio was asked for them. */
  changes: Array<{ status: 'paused' | 'in-progress' | 'stopped'; at: number }>;
  callbackUrl?: string;
  callbackEvents: string[];
  /** `<Dial record>`: the legs of its `<Dial>`; the recording ends when they do. */
  dialLegs?: string[];
  /** Everyone the call was connected to while this recorded it (numbers and SIP URIs). */
  heard: Set<string>;
}

const LIVE: ReadonlySet<FakeRecordingStatus> = new Set(['in-progress', 'paused']);
const FINAL_CALL: ReadonlySet<FakeCallStatus> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');
const unescapeXml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const attr = (attrs: string, name: string) => {
  const v = new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1];
  return v === undefined ? undefined : unescapeXml(v);
};

interface Reply {
  send(status: number, body: unknown): void;
  error(status: number, code: number, message: string): void;
  /** A body that is not JSON (the recording's audio). */
  raw(status: number, contentType: string, body: Buffer): void;
}

export class FakeRecordings {
  readonly recordings = new Map<string, FakeRecording>();
  /** Consumed one per REST request to a call's Recordings (create or update), before normal handling. */
  readonly injections: Injection[] = [];
  /** From a recording's end to `completed` (Twilio processes the audio first). @defaultValue 2000 */
  processingMs = 2000;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly api: {
      accountSid: string;
      /** Where the API is served, for RecordingUrl (`{base}/2010-04-01/Accounts/{AC}/Recordings/{RE}`). */
      baseUrl(): string;
      calls: Map<string, FakeCall>;
      children(sid: string): FakeCall[];
      /** The calls in the live conference `call` is in, other than itself. */
      roomMates(call: FakeCall): FakeCall[];
      deliver(kind: SentWebhook['kind'], callSid: string, url: string, params: Record<string, string>): Promise<SentWebhook>;
    },
  ) {}

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** The call's recordings, oldest first. */
  of(callSid: string): FakeRecording[] {
    return [...this.recordings.values()].filter((r) => r.callSid === callSid);
  }

  /** The call's recording that is still recording (or paused), if any: what `Twilio.CURRENT` names. */
  current(callSid: string): FakeRecording | undefined {
    return this.of(callSid).filter((r) => LIVE.has(r.status)).at(-1);
  }

  /**
   * The TwiML a call is about to run: `<Start><Recording>` starts a call recording; `<Dial record>`
   * (once its legs exist, hence `legs`) a recording of that `<Dial>`.
   */
  fromTwiml(call: FakeCall, twiml: string, legs: FakeCall[]): void {
    const start = /<Start>\s*<Recording\b([^>]*?)\/?>/.exec(twiml);
    if (start) {
      const a = start[1]!;
      this.start(call, {
        source: 'StartCallRecordingAPI',
        startedBy: 'Start',
        // <Recording>'s defaults: dual, both tracks.
        channels: attr(a, 'channels') === 'mono' ? 1 : 2,
        track: (attr(a, 'track') as FakeRecording['track'] | undefined) ?? 'both',
        callbackUrl: attr(a, 'recordingStatusCallback'),
        callbackEvents: (attr(a, 'recordingStatusCallbackEvent') ?? 'completed').split(/\s+/).filter(Boolean),
      });
    }
    const dial = /<Dial\b([^>]*)>/.exec(twiml);
    const record = dial ? attr(dial[1]!, 'record') : undefined;
    if (dial && record && record !== 'do-not-record' && record !== 'false') {
      this.start(call, {
        source: 'DialVerb',
        startedBy: 'Dial',
        channels: record.endsWith('-dual') ? 2 : 1,
        track: (attr(dial[1]!, 'recordingTrack') as FakeRecording['track'] | undefined) ?? 'both',
        callbackUrl: attr(dial[1]!, 'recordingStatusCallback'),
        callbackEvents: (attr(dial[1]!, 'recordingStatusCallbackEvent') ?? 'completed').split(/\s+/).filter(Boolean),
        dialLegs: legs.map((l) => l.sid),
      });
    }
    this.listen(call);
  }

  /** What the call is connected to changed (new legs, a conference): its live recordings hear them. */
  listen(call: FakeCall): void {
    const live = this.of(call.sid).filter((r) => r.status === 'in-progress');
    if (!live.length) return;
    const parties = [
      ...this.api.children(call.sid).filter((c) => !FINAL_CALL.has(c.status)),
      ...this.api.roomMates(call),
    ].map((c) => (c.parentSid === call.sid || c.direction === 'outbound-api' ? c.to : c.from));
    for (const r of live) {
      const own = r.dialLegs ? this.api.children(call.sid).filter((c) => r.dialLegs!.includes(c.sid)).map((c) => c.to) : parties;
      for (const p of own) r.heard.add(p);
    }
  }

  /** A `<Dial>`'s legs ended (a redirect, or the far end hung up): the recordings of that `<Dial>` end with it. */
  dialEnded(call: FakeCall): void {
    for (const r of this.of(call.sid)) {
      if (!r.dialLegs || !LIVE.has(r.status)) continue;
      const legs = this.api.children(call.sid).filter((c) => r.dialLegs!.includes(c.sid));
      if (legs.every((l) => FINAL_CALL.has(l.status))) this.finish(r);
    }
  }

  /** The call ended: every recording of it ends too. */
  callEnded(call: FakeCall): void {
    for (const r of this.of(call.sid)) if (LIVE.has(r.status)) this.finish(r);
  }

  /** The REST side; true when the request was one of the recordings' paths. */
  async handle(method: string, path: string, params: URLSearchParams, reply: Reply): Promise<boolean> {
    const base = `/2010-04-01/Accounts/${this.api.accountSid}`;
    const list = new RegExp(`^${base}/Calls/(CA[0-9a-f]{32})/Recordings\\.json$`, 'i').exec(path);
    const one = new RegExp(`^${base}/Calls/(CA[0-9a-f]{32})/Recordings/(RE[0-9a-f]{32}|Twilio\\.CURRENT)\\.json$`, 'i').exec(path);
    const top = new RegExp(`^${base}/Recordings/(RE[0-9a-f]{32})(\\.json|\\.wav|\\.mp3)?$`, 'i').exec(path);
    if (!list && !one && !top) return false;

    if (method === 'POST' && (list || one)) {
      await performInjected(
        this.injections.shift(),
        (status, code, message) => reply.error(status, code, message),
        () => (list ? this.create(list[1]!, params) : this.update(one![1]!, one![2]!, params)),
        (answer) => ('error' in answer ? reply.error(answer.error.status, answer.error.code, answer.error.message) : reply.send(answer.status, answer.body)),
      );
      return true;
    }
    if (method === 'GET' && list) {
      const recordings = this.of(list[1]!).sort((a, b) => b.startedAt - a.startedAt);
      reply.send(200, twilioPage('recordings', `${base}/Calls/${list[1]}/Recordings.json`, params, recordings, (r) => this.json(r)));
      return true;
    }
    if (method === 'GET' && one) {
      const r = one[2] === 'Twilio.CURRENT' ? this.current(one[1]!) : this.recordings.get(one[2]!);
      if (!r || r.callSid !== one[1]) reply.error(404, 20404, `The requested resource ${path} was not found`);
      else reply.send(200, this.json(r));
      return true;
    }
    if (method === 'GET' && top) {
      const r = this.recordings.get(top[1]!);
      if (!r) reply.error(404, 20404, `The requested resource ${path} was not found`);
      else if (top[2] === '.json') reply.send(200, this.json(r, 'account'));
      else if (r.status !== 'completed') reply.error(404, 20404, 'The recording is not available yet');
      else reply.raw(200, 'audio/x-wav', silence(this.durationS(r), r.channels));
      return true;
    }
    reply.error(405, 20004, 'Method not allowed');
    return true;
  }

  private create(callSid: string, params: URLSearchParams): { status: number; body: unknown } | { error: { status: number; code: number; message: string } } {
    const call = this.api.calls.get(callSid);
    if (!call) return { error: { status: 404, code: 20404, message: `The requested resource /Calls/${callSid} was not found` } };
    if (call.status !== 'in-progress') return { error: { status: 400, code: 21220, message: 'Call is not in-progress. Cannot create a recording.' } };
    const r = this.start(call, {
      source: 'StartCallRecordingAPI',
      startedBy: 'REST',
      channels: params.get('RecordingChannels') === 'dual' ? 2 : 1,
      track: (params.get('RecordingTrack') as FakeRecording['track'] | null) ?? 'both',
      callbackUrl: params.get('RecordingStatusCallback') ?? undefined,
      // twilio-node repeats the parameter for each event; a raw request may separate them with spaces.
      callbackEvents: params.getAll('RecordingStatusCallbackEvent').flatMap((e) => e.split(/\s+/)).filter(Boolean),
    });
    this.listen(call);
    return { status: 201, body: this.json(r) };
  }

  private update(callSid: string, sid: string, params: URLSearchParams): { status: number; body: unknown } | { error: { status: number; code: number; message: string } } {
    const r = sid === 'Twilio.CURRENT' ? this.current(callSid) : this.recordings.get(sid);
    if (!r || r.callSid !== callSid) return { error: { status: 404, code: 20404, message: `The requested resource /Calls/${callSid}/Recordings/${sid} was not found` } };
    const status = params.get('Status');
    if (status !== 'paused' && status !== 'in-progress' && status !== 'stopped') {
      return { error: { status: 400, code: 21201, message: 'Status must be paused, in-progress or stopped' } };
    }
    const behavior = params.get('PauseBehavior') ?? 'silence';
    if (behavior !== 'skip' && behavior !== 'silence') return { error: { status: 400, code: 21201, message: 'PauseBehavior must be skip or silence' } };
    if (!LIVE.has(r.status)) return { error: { status: 400, code: 21220, message: `Recording is ${r.status} and can no longer be updated` } };
    const now = Date.now();
    r.changes.push({ status, at: now });
    if (status === 'paused' && r.status === 'in-progress') {
      r.status = 'paused';
      r.pausedAt = now;
      r.pauseBehavior = behavior;
    } else if (status === 'in-progress' && r.status === 'paused') {
      this.unpause(r, now);
      r.status = 'in-progress';
      const call = this.api.calls.get(callSid);
      if (call) this.listen(call);
    } else if (status === 'stopped') {
      this.unpause(r, now);
      r.status = 'stopped';
      this.finish(r);
    }
    r.updatedAt = now;
    return { status: 200, body: this.json(r) };
  }

  private start(call: FakeCall, opts: Pick<FakeRecording, 'source' | 'startedBy' | 'channels' | 'track' | 'callbackUrl' | 'callbackEvents' | 'dialLegs'>): FakeRecording {
    const now = Date.now();
    const r: FakeRecording = { sid: `RE${randomBytes(16).toString('hex')}`, callSid: call.sid, status: 'in-progress', startedAt: now, updatedAt: now, skippedMs: 0, changes: [], heard: new Set(), ...opts };
    this.recordings.set(r.sid, r);
    this.callback(r, 'in-progress');
    return r;
  }

  private unpause(r: FakeRecording, now: number): void {
    if (r.pausedAt !== undefined && r.pauseBehavior === 'skip') r.skippedMs += now - r.pausedAt;
    r.pausedAt = undefined;
  }

  /** The recording stops; Twilio processes it, then it is `completed`. */
  private finish(r: FakeRecording): void {
    const now = Date.now();
    this.unpause(r, now);
    r.endedAt = now;
    r.status = 'processing';
    r.updatedAt = now;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      r.status = 'completed';
      r.updatedAt = Date.now();
      this.callback(r, 'completed');
    }, this.processingMs);
    this.timers.add(timer);
  }

  private durationS(r: FakeRecording): number {
    return Math.max(0, Math.round(((r.endedAt ?? Date.now()) - r.startedAt - r.skippedMs) / 1000));
  }

  private url(r: FakeRecording): string {
    return `${this.api.baseUrl()}/2010-04-01/Accounts/${this.api.accountSid}/Recordings/${r.sid}`;
  }

  /** Twilio's recording status callback, for the events the recording asked for. */
  private callback(r: FakeRecording, event: 'in-progress' | 'completed'): void {
    if (!r.callbackUrl || !r.callbackEvents.includes(event)) return;
    const params: Record<string, string> = {
      AccountSid: this.api.accountSid,
      CallSid: r.callSid,
      RecordingSid: r.sid,
      RecordingUrl: this.url(r),
      RecordingStatus: event,
      RecordingChannels: String(r.channels),
      RecordingStartTime: rfc2822(r.startedAt),
      RecordingSource: r.source,
      RecordingTrack: r.track,
      ...(event === 'completed' ? { RecordingDuration: String(this.durationS(r)) } : {}),
    };
    void this.api.deliver('recording', r.callSid, r.callbackUrl, params);
  }

  /** A recording as Twilio's Recording resource shows it (under the call, or under the account). */
  private json(r: FakeRecording, under: 'call' | 'account' = 'call') {
    const base = `/2010-04-01/Accounts/${this.api.accountSid}`;
    return {
      account_sid: this.api.accountSid,
      api_version: '2010-04-01',
      call_sid: r.callSid,
      conference_sid: null,
      date_created: rfc2822(r.startedAt),
      date_updated: rfc2822(r.updatedAt),
      start_time: rfc2822(r.startedAt),
      // Twilio shows -1 until the recording is processed.
      duration: r.status === 'completed' ? String(this.durationS(r)) : '-1',
      sid: r.sid,
      price: null,
      price_unit: 'USD',
      status: r.status,
      channels: r.channels,
      source: r.source,
      error_code: null,
      track: r.track,
      encryption_details: null,
      uri: under === 'call' ? `${base}/Calls/${r.callSid}/Recordings/${r.sid}.json` : `${base}/Recordings/${r.sid}.json`,
    };
  }

}

/** A WAV file of silence, `seconds` long (at most 2 s: the sandbox only shows that there is a file). */
function silence(seconds: number, channels: number): Buffer {
  const rate = 8000;
  const frames = Math.min(seconds, 2) * rate;
  const data = frames * channels * 2;
  const wav = Buffer.alloc(44 + data);
  wav.write('RIFF', 0);
  wav.writeUInt32LE(36 + data, 4);
  wav.write('WAVEfmt ', 8);
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20);
  wav.writeUInt16LE(channels, 22);
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * channels * 2, 28);
  wav.writeUInt16LE(channels * 2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36);
  wav.writeUInt32LE(data, 40);
  return wav;
}
