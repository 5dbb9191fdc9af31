import type { EffectLedger } from '../jobs/effect';
import type { RedisClient } from '../redis/connection';
import { ScriptedStore } from '../redis/scripts';
import { FINAL_CALL_STATUSES } from '../twilio/call-status';
import type { TwilioRequestEntry } from '../twilio/http-client';
import {
  callSidOfTransfer,
  fieldList,
  parseRecord,
  RECORD_TTL_MS,
  type CallAction,
  type CallActionKind,
  type CallRecord,
  type CallState,
  type CallUpdate,
  type RecordingConsent,
  type RecordingControl,
  type RecordingWanted,
  type WarmTransfer,
  type WarmTransferFailure,
} from './record';
import * as scripts from './scripts';

/**
 * Redis key names. Everything about one Twilio call lives in a single hash whose hash tag is the CallSid,
 * so the scripts that touch it stay in one slot on Redis Cluster. The Retell call_id index is a separate
 * key (a different slot), written beside the record but never inside a script with it.
 */
export function callKeys(prefix: string) {
  return {
    record: (callSid: string) => `${prefix}:call:{${callSid}}`,
    byRetellId: (callId: string) => `${prefix}:retell-call:{${callId}}`,
    /** Recent calls (inbound and outbound), CallSids scored by creation time (ms): the console's list. */
    recent: `${prefix}:calls:recent`,
    /** The Twilio REST requests the bridge made for a call, oldest first (a list of JSON entries). */
    twilioRequests: (callSid: string) => `${prefix}:call:{${callSid}}:twilio`,
    /** SCAN pattern matching every key above, for tests and maintenance tools. */
    pattern: `${prefix}:*`,
  };
}

export type CallKeys = ReturnType<typeof callKeys>;

export type ClaimResult = { kind: 'claimed' } | { kind: 'done'; twiml: string } | { kind: 'pending'; retryInMs: number };
/** `appended`: the stream entry given was appended with the answer. */
export type CompleteResult = { kind: 'ok'; appended: boolean } | { kind: 'lost'; twiml: string | undefined };

/** An entry for a Redis stream (`XADD stream MAXLEN ~ maxLength * e entry`), written by another record's script. */
export interface StreamEntry {
  stream: string;
  maxLength: number;
  entry: string;
}
export type AdvanceResult = 'moved' | 'kept' | 'unknown';

export type ClaimActionResult =
  | { kind: 'created'; action: CallAction }
  /** `accepted`: the action is a warm transfer whose person accepted (the caller is being moved to them). */
  | { kind: 'exists'; action: CallAction; accepted?: boolean }
  | { kind: 'unknown' }
  | { kind: 'ended' };

export type BeginWarmResult =
  | { kind: 'begun'; transfer: WarmTransfer }
  | { kind: 'exists'; transfer: WarmTransfer }
  /** The action is no longer this transfer's (replaced, or failed), or the call is gone. */
  | { kind: 'superseded' }
  | { kind: 'ended' }
  | { kind: 'unknown' };

export type LinkLegResult = 'linked' | 'failed' | 'other' | 'kept';

export type ClaimRecordingControlResult =
  | { kind: 'created'; control: RecordingControl }
  | { kind: 'exists'; control: RecordingControl }
  /** Another pause or resume is still being performed. */
  | { kind: 'busy'; control: RecordingControl }
  /** A resume with nothing paused: nothing to do. */
  | { kind: 'noop' }
  /** The call is not recorded (or its recording is over). */
  | { kind: 'not_recorded' }
  | { kind: 'ended' }
  | { kind: 'unknown' };

/** Twilio's recording status callback, as the call record keeps it. */
export interface RecordingStatusUpdate {
  recordingSid: string;
  status: string;
  url?: string;
  durationS?: string;
  channels?: string;
}
export type AcceptResult = 'accepted' | 'caller_gone' | 'over' | 'unknown';

/** Twilio's statuses before the call is answered, each recorded as the time it was first seen. */
const PROGRESS_FIELDS: Readonly<Record<string, 'queuedAt' | 'initiatedAt' | 'ringingAt'>> = {
  queued: 'queuedAt',
  initiated: 'initiatedAt',
  ringing: 'ringingAt',
};

/** Retell's call events the bridge records, with the parts of the call object it keeps. */
export type RetellCallEvent =
  | { event: 'call_started'; startedAt?: string }
  | { event: 'call_ended'; endedAt?: string; disconnectionReason?: string; durationMs?: number }
  | { event: 'call_analyzed'; summary?: string; userSentiment?: string; successful?: boolean };

interface Commands {
  bridgeClaim(key: string, owner: string, leaseMs: number, ttlMs: number, state: string, ...fields: string[]): Promise<string[]>;
  bridgeClaimIndexed(key: string, index: string, score: number, trim: string, max: number, ageMs: number, callSid: string, owner: string, leaseMs: number, ttlMs: number, state: string, ...fields: string[]): Promise<string[]>;
  bridgeComplete(key: string, owner: string, ttlMs: number, state: string, ...fields: string[]): Promise<string[]>;
  bridgeCompleteAppending(key: string, stream: string, owner: string, ttlMs: number, state: string, ...fieldsThenMaxLengthAndEntry: (string | number)[]): Promise<string[]>;
  bridgeRelease(key: string, owner: string): Promise<number>;
  bridgeUpdate(key: string, ...fields: string[]): Promise<number>;
  bridgeAdopt(key: string, ttlMs: number, state: string, ...fields: string[]): Promise<number>;
  bridgeAdvance(key: string, state: string, once: number, ...fields: string[]): Promise<number>;
  bridgeClaimAction(key: string, action: string, callSid: string): Promise<string[]>;
  bridgeUpdateAction(key: string, jobId: string, status: string, error: string, uncertain: string, state: string, at: string, takeovers: number, startedAt: string): Promise<number>;
  bridgeWarmBegin(key: string, id: string, transfer: string): Promise<string[]>;
  bridgeWarmLink(key: string, id: string, legSid: string, at: string): Promise<string>;
  bridgeWarmAccept(key: string, id: string, at: string): Promise<string>;
  bridgeWarmFail(key: string, id: string, reason: string, at: string, fromAccepted: string): Promise<string[]>;
  bridgeDecideConsent(key: string, decision: string, at: string): Promise<string>;
  bridgeRecordingStatus(key: string, sid: string, status: string, url: string, duration: string, channels: string, at: string): Promise<number>;
  bridgeClaimRecordingControl(key: string, draft: string, callSid: string): Promise<string[]>;
  bridgeUpdateRecordingControl(key: string, jobId: string, status: string, error: string, uncertain: string, at: string, takeovers: number, startedAt: string): Promise<number>;
  bridgeTrimRecent(key: string, now: number, max: number, ageMs: number): Promise<number>;
  bridgeLogTwilioRequest(key: string, entry: string, max: number, ttlMs: number): Promise<number>;
}

const SCRIPTS: Record<Exclude<keyof Commands, 'bridgeClaimIndexed' | 'bridgeCompleteAppending'>, string> = {
  bridgeClaim: scripts.CLAIM,
  bridgeComplete: scripts.COMPLETE,
  bridgeRelease: scripts.RELEASE,
  bridgeUpdate: scripts.UPDATE,
  bridgeAdopt: scripts.ADOPT,
  bridgeAdvance: scripts.ADVANCE,
  bridgeClaimAction: scripts.CLAIM_ACTION,
  bridgeUpdateAction: scripts.UPDATE_ACTION,
  bridgeWarmBegin: scripts.WARM_BEGIN,
  bridgeWarmLink: scripts.WARM_LINK,
  bridgeWarmAccept: scripts.WARM_ACCEPT,
  bridgeWarmFail: scripts.WARM_FAIL,
  bridgeDecideConsent: scripts.DECIDE_CONSENT,
  bridgeRecordingStatus: scripts.RECORDING_STATUS,
  bridgeClaimRecordingControl: scripts.CLAIM_RECORDING_CONTROL,
  bridgeUpdateRecordingControl: scripts.UPDATE_RECORDING_CONTROL,
  bridgeTrimRecent: scripts.TRIM_RECENT,
  bridgeLogTwilioRequest: scripts.LOG_TWILIO_REQUEST,
};

/**
 * The most calls the recent-calls index keeps (about 70 bytes each); older ones drop out of it as new
 * ones come, and every entry leaves after the record's TTL.
 */
export const RECENT_CALLS_MAX = 50_000;

/** The index is trimmed with one call in this many (and by each process's first): it may exceed its bounds by about this many entries in between. */
export const RECENT_TRIM_EVERY = 64;

/** The most Twilio requests kept per call (a call makes a handful; a retried warm transfer a few dozen). */
export const TWILIO_REQUESTS_MAX = 100;

/** A call in the recent-calls index: its CallSid and when its record was created (ms). */
export interface RecentCall {
  callSid: string;
  at: number;
}

/** The record fields a list of calls shows, read for many calls at once. */
export const SUMMARY_FIELDS = [
  'callSid',
  'direction',
  'from',
  'to',
  'state',
  'agentId',
  'callId',
  'createdAt',
  'answeredAt',
  'endedAt',
  'duration',
  'action',
  'warmTransfer',
  'error',
] as const satisfies ReadonlyArray<keyof CallRecord>;

export type CallSummary = Pick<CallRecord, 'callSid' | 'direction' | 'from' | 'to' | 'state' | 'createdAt'> &
  Partial<Pick<CallRecord, (typeof SUMMARY_FIELDS)[number]>>;

const now = () => new Date().toISOString();
const parse = <T>(raw: string | null | undefined): T | null => (raw ? (JSON.parse(raw) as T) : null);

/**
 * The call record's one owner: every read and write of `call:{CallSid}` goes through here, each write one
 * script of scripts.ts. Grouped as the call goes on: the voice webhook's claim, the record's lifecycle,
 * the action (one transfer or hang-up at a time, with the exactly-once runner's marks), and the warm
 * transfer kept beside its action.
 */
export class CallRepository extends ScriptedStore<CallKeys, Commands> {
  private readonly clustered: boolean;

  constructor(redis: RedisClient, prefix: string) {
    super(redis, callKeys(prefix), SCRIPTS);
    // Two keys (the record and the index, or the events stream): not for a Cluster, where the claim and the
    // completion go alone.
    redis.defineCommand('bridgeClaimIndexed', { numberOfKeys: 2, lua: scripts.CLAIM_INDEXED });
    redis.defineCommand('bridgeCompleteAppending', { numberOfKeys: 2, lua: scripts.COMPLETE_APPENDING });
    this.clustered = (redis as { isCluster?: boolean }).isCluster === true;
  }

  // --- The voice webhook's exactly-once claim ------------------------------------------------------

  /**
   * Takes the claim to register `callSid`, unless someone holds a live claim (`pending`) or an answer is
   * already stored (`done`). `initial` fields are written with the claim. Twilio may send the same
   * webhook several times, even at the same instant: whoever takes the claim registers the call.
   */
  async claimAnswer(callSid: string, owner: string, leaseMs: number, initial: Partial<CallRecord>): Promise<ClaimResult> {
    const claimArgs = [owner, leaseMs, RECORD_TTL_MS, initial.state ?? '', ...fieldList(initial)] as const;
    let reply: string[];
    if (this.clustered) {
      // On a Cluster the index is in another slot (maybe on another node): sent beside the claim, in the same tick.
      [reply] = await Promise.all([this.redis.bridgeClaim(this.keys.record(callSid), ...claimArgs), this.indexRecent(callSid, initial.createdAt)]);
    } else {
      // The index is written by the claim's own script: no command, no round trip of its own.
      const at = (initial.createdAt && Date.parse(initial.createdAt)) || Date.now();
      const trim = this.indexed++ % RECENT_TRIM_EVERY === 0 ? '1' : '';
      reply = await this.redis.bridgeClaimIndexed(this.keys.record(callSid), this.keys.recent, at, trim, RECENT_CALLS_MAX, RECORD_TTL_MS, callSid, ...claimArgs);
    }
    if (reply[0] === 'done') return { kind: 'done', twiml: reply[1] ?? '' };
    if (reply[0] === 'pending') return { kind: 'pending', retryInMs: Number(reply[1]) };
    return { kind: 'claimed' };
  }

  /**
   * Stores the answer and the registration, if `owner` still holds the claim, and indexes the Retell id.
   * `append`, a stream entry (the call's first event), is appended by the same script once the answer is
   * stored (`appended`), except on a Cluster, where the stream is in another slot: the caller sends it then.
   */
  async completeAnswer(callSid: string, owner: string, fields: Partial<CallRecord> & { twiml: string }, append?: StreamEntry): Promise<CompleteResult> {
    const args = [owner, RECORD_TTL_MS, fields.state ?? '', ...fieldList(fields)] as const;
    const appending = append !== undefined && !this.clustered;
    const stored = appending
      ? this.redis.bridgeCompleteAppending(this.keys.record(callSid), append.stream, ...args, append.maxLength, append.entry)
      : this.redis.bridgeComplete(this.keys.record(callSid), ...args);
    // Sent in the same tick as the script, so it costs no extra round trip; harmless if the claim was lost
    // because the id is unique to this registration.
    const indexed = fields.callId ? this.redis.set(this.keys.byRetellId(fields.callId), callSid, 'PX', RECORD_TTL_MS) : Promise.resolve(null);
    const [reply] = await Promise.all([stored, indexed]);
    if (reply[0] === 'ok') return { kind: 'ok', appended: appending };
    return { kind: 'lost', twiml: reply[1] };
  }

  /** Gives the claim up after an unexpected error, so the next repeat of the webhook can try again. */
  async releaseAnswer(callSid: string, owner: string): Promise<void> {
    await this.redis.bridgeRelease(this.keys.record(callSid), owner);
  }

  /** The TwiML stored for the call, if an answer has been stored. */
  async storedAnswer(callSid: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.record(callSid), 'twiml')) ?? undefined;
  }

  // --- The record ------------------------------------------------------------------------------------

  async get(callSid: string): Promise<CallRecord | null> {
    return parseRecord(await this.redis.hgetall(this.keys.record(callSid)));
  }

  async callSidForRetellCall(callId: string): Promise<string | null> {
    return this.redis.get(this.keys.byRetellId(callId));
  }

  /**
   * Sets fields on an existing record; false when it does not exist (or has expired). The state is not
   * among them: it moves only through the lifecycle, the claim and the actions.
   */
  async update(callSid: string, fields: Omit<CallUpdate, 'state'>): Promise<boolean> {
    return (await this.redis.bridgeUpdate(this.keys.record(callSid), ...fieldList({ ...fields, updatedAt: now() }))) === 1;
  }

  /** Creates the record from what Retell reports when the bridge has none (it never overwrites one). */
  async adopt(record: CallRecord): Promise<void> {
    await Promise.all([
      this.redis.bridgeAdopt(this.keys.record(record.callSid), RECORD_TTL_MS, record.state, ...fieldList(record)),
      this.indexRecent(record.callSid, record.createdAt),
    ]);
  }

  // --- Recent calls and their Twilio requests (the operator's console) -----------------------------------

  /**
   * Adds the call to the recent-calls index (a plain ZADD NX: a repeat keeps the first time), and with one
   * call in RECENT_TRIM_EVERY trims the index by count and age: for a record made without the claim (an
   * adopted one), and on a Cluster. Never fails its caller: a call missing from the console's list is
   * better than a call not answered.
   */
  private indexRecent(callSid: string, createdAt: string | undefined): Promise<unknown> {
    const at = (createdAt && Date.parse(createdAt)) || Date.now();
    const added = this.redis.zadd(this.keys.recent, 'NX', at, callSid);
    const trimmed = this.indexed++ % RECENT_TRIM_EVERY === 0 ? this.trimRecent(at) : undefined;
    return Promise.all([added, trimmed]).catch(() => 0);
  }

  private indexed = 0;

  /** Drops the index's entries older than a record lives, then the oldest beyond RECENT_CALLS_MAX. */
  trimRecent(now = Date.now()): Promise<number> {
    return this.redis.bridgeTrimRecent(this.keys.recent, now, RECENT_CALLS_MAX, RECORD_TTL_MS);
  }

  /**
   * The newest calls first, from `before` (ms, inclusive; newest when unset), skipping the first `skip`
   * of those at exactly `before` (already shown on a previous page).
   */
  async recentCalls(opts: { before?: number; skip?: number; limit: number }): Promise<RecentCall[]> {
    const from = opts.before === undefined ? '+inf' : String(opts.before);
    const page = await this.redis.zrange(this.keys.recent, from, '-inf', 'BYSCORE', 'REV', 'LIMIT', opts.skip ?? 0, opts.limit, 'WITHSCORES');
    const out: RecentCall[] = [];
    for (let i = 0; i < page.length; i += 2) out.push({ callSid: page[i]!, at: Number(page[i + 1]) });
    return out;
  }

  /** How many calls the recent-calls index holds. */
  recentCount(): Promise<number> {
    return this.redis.zcard(this.keys.recent);
  }

  /** The list fields of each call, in order, in one round trip; null for a record that has expired. */
  summaries(callSids: readonly string[]): Promise<Array<CallSummary | null>> {
    return this.fieldsOf(callSids, SUMMARY_FIELDS) as Promise<Array<CallSummary | null>>;
  }

  /** Some fields of each call, in order, in one round trip (the callSid always); null for a record that has expired. */
  async fieldsOf(callSids: readonly string[], fields: ReadonlyArray<keyof CallRecord>): Promise<Array<Partial<CallRecord> | null>> {
    if (callSids.length === 0) return [];
    const wanted: ReadonlyArray<keyof CallRecord> = fields.includes('callSid') ? fields : ['callSid', ...fields];
    const pipeline = this.redis.pipeline();
    for (const sid of callSids) pipeline.hmget(this.keys.record(sid), ...wanted);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, values]) => {
      const list = values as Array<string | null> | undefined;
      if (err || !Array.isArray(list) || !list[0]) return null;
      const out: Record<string, string> = {};
      wanted.forEach((field, i) => {
        const v = list[i];
        if (v !== null && v !== undefined) out[field] = v;
      });
      return out as Partial<CallRecord>;
    });
  }

  /** Records one Twilio request made for the call (the Twilio client's hook); never fails its caller. */
  logTwilioRequest(callSid: string, entry: TwilioRequestEntry): Promise<unknown> {
    return this.redis.bridgeLogTwilioRequest(this.keys.twilioRequests(callSid), JSON.stringify(entry), TWILIO_REQUESTS_MAX, RECORD_TTL_MS).catch(() => 0);
  }

  /** The Twilio requests made for the call, oldest first. */
  async twilioRequests(callSid: string): Promise<TwilioRequestEntry[]> {
    const raw = await this.redis.lrange(this.keys.twilioRequests(callSid), 0, -1);
    return raw.map((r) => JSON.parse(r) as TwilioRequestEntry);
  }

  /** A Twilio status callback: `at` is Twilio's timestamp of the change. */
  twilioStatus(callSid: string, status: string, at: string, duration?: string): Promise<AdvanceResult> {
    if (FINAL_CALL_STATUSES.has(status)) return this.advance(callSid, 'ended', { endedAt: at, endReason: status, duration }, { twilioStatus: status });
    if (status === 'in-progress') return this.advance(callSid, 'in-progress', { answeredAt: at });
    const field = PROGRESS_FIELDS[status];
    return this.advance(callSid, undefined, field ? { [field]: at } : {});
  }

  /**
   * A Retell call event. `handedOff`: the call was transferred away from the agent, so the agent's leg
   * ending does not end the phone call, which goes on with a person.
   */
  retellEvent(callSid: string, e: RetellCallEvent, handedOff: boolean): Promise<AdvanceResult> {
    if (e.event === 'call_started') return this.advance(callSid, 'in-progress', { agentStartedAt: e.startedAt });
    if (e.event === 'call_ended') {
      return this.advance(callSid, handedOff ? undefined : 'ended', {
        agentEndedAt: e.endedAt,
        disconnectionReason: e.disconnectionReason,
        agentDurationMs: e.durationMs?.toString(),
      });
    }
    return this.advance(callSid, undefined, {
      analyzedAt: now(),
      summary: e.summary?.slice(0, 2000),
      userSentiment: e.userSentiment,
      callSuccessful: e.successful?.toString(),
    });
  }

  /**
   * Moves the call to `state` if that is further along (events arrive late, twice, out of order: a late
   * `call_started` cannot revive an ended call), records `once` fields only the first time they are seen
   * (timestamps, end reasons), and `latest` fields every time.
   */
  async advance(callSid: string, state: CallState | undefined, once: CallUpdate = {}, latest: CallUpdate = {}): Promise<AdvanceResult> {
    const oncePairs = fieldList(once as Partial<CallRecord>);
    const reply = await this.redis.bridgeAdvance(this.keys.record(callSid), state ?? '', oncePairs.length / 2, ...oncePairs, ...fieldList({ ...latest, updatedAt: now() }));
    return reply === -1 ? 'unknown' : reply === 1 ? 'moved' : 'kept';
  }

  // --- The action ------------------------------------------------------------------------------------

  /**
   * Records `kind` as the call's action unless one is pending or done (an end_call replaces a transfer
   * that has not reached the caller), or the call has ended. Retell retries a slow function call and
   * agents repeat themselves: each repeat finds the action already there rather than queue another.
   */
  async claimAction(callSid: string, request: { kind: CallActionKind; target: string; answer: string; label?: string; summary?: string }): Promise<ClaimActionResult> {
    const draft = { ...request, status: 'queued', requestedAt: now() };
    const reply = await this.redis.bridgeClaimAction(this.keys.record(callSid), JSON.stringify(draft), callSid);
    if (reply[0] === 'created') return { kind: 'created', action: JSON.parse(reply[1]!) as CallAction };
    if (reply[0] === 'exists') return { kind: 'exists', action: JSON.parse(reply[1]!) as CallAction, ...(reply[2] === '1' ? { accepted: true } : {}) };
    return { kind: reply[0] === 'ended' ? 'ended' : 'unknown' };
  }

  async action(callSid: string): Promise<CallAction | null> {
    return parse<CallAction>(await this.redis.hget(this.keys.record(callSid), 'action'));
  }

  /**
   * Marks that a request for action `jobId` is about to be sent (`true`, with the deadline window it
   * counts in) or that Twilio refused it without performing it (`false`). False when `jobId` no longer
   * owns a pending action.
   */
  markAction(callSid: string, jobId: string, uncertain: boolean, window?: { startedAt: string; takeovers: number }): Promise<boolean> {
    return this.updateAction(callSid, jobId, { uncertain, ...window });
  }

  /**
   * Settles action `jobId` done or failed, if it still owns the call's action. `state` moves the call
   * forward (a performed transfer: `transferred`); a failed action leaves the state as it was, so a failed
   * transfer leaves the agent on the line.
   */
  settleAction(callSid: string, jobId: string, status: 'done' | 'failed', opts: { error?: string; state?: CallState } = {}): Promise<boolean> {
    return this.updateAction(callSid, jobId, { status, error: opts.error, state: opts.state });
  }

  /**
   * Action `jobId` as the exactly-once runner sees it. `done`: the state a performed action moves the
   * call to. `endedAs`: what a call ending under the action means for it (a hang-up is then done; a
   * transfer failed).
   */
  actionLedger(callSid: string, jobId: string, opts: { done: CallState; endedAs: 'done' | 'failed' }): EffectLedger {
    return {
      read: async () => {
        const action = await this.action(callSid);
        return action && action.jobId === jobId ? action : 'superseded';
      },
      sending: (window) => this.markAction(callSid, jobId, true, window),
      refused: () => this.markAction(callSid, jobId, false),
      settle: (status, error) => this.settleAction(callSid, jobId, status, status === 'done' ? { state: opts.done } : { error }),
      ended: () => this.settleAction(callSid, jobId, opts.endedAs, opts.endedAs === 'done' ? { state: 'ended' } : { state: 'ended', error: 'call not in progress' }),
    };
  }

  private async updateAction(
    callSid: string,
    jobId: string,
    change: { status?: 'done' | 'failed'; error?: string; uncertain?: boolean; state?: CallState; takeovers?: number; startedAt?: string },
  ): Promise<boolean> {
    const at = now();
    const updated = await this.redis.bridgeUpdateAction(
      this.keys.record(callSid),
      jobId,
      change.status ?? '',
      change.error ?? '',
      change.uncertain === undefined ? '' : change.uncertain ? '1' : '0',
      change.state ?? '',
      at,
      change.takeovers ?? 0,
      change.startedAt ?? at,
    );
    return updated === 1;
  }

  // --- The warm transfer --------------------------------------------------------------------------------
  // Twilio's callbacks about the person's leg, the caller's own callbacks and the worker's jobs race each
  // other; each step is one script, so whichever outcome comes first (accepted, or a failure) is the only one.

  async warmTransfer(callSid: string): Promise<WarmTransfer | null> {
    return parse<WarmTransfer>(await this.redis.hget(this.keys.record(callSid), 'warmTransfer'));
  }

  /** The transfer `id`, if it is its call's current one. */
  async findWarmTransfer(id: string): Promise<WarmTransfer | null> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return null;
    const transfer = await this.warmTransfer(callSid);
    return transfer?.id === id ? transfer : null;
  }

  /** The inbound call's CallToken, kept from its voice webhook. */
  async callToken(callSid: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.record(callSid), 'callToken')) ?? undefined;
  }

  /** Starts transfer `id` on its call (once: a retry gets what the first attempt wrote). */
  async beginWarmTransfer(callSid: string, draft: Omit<WarmTransfer, 'status'>): Promise<BeginWarmResult> {
    const transfer: WarmTransfer = { ...draft, status: 'transfer_placing' };
    const reply = await this.redis.bridgeWarmBegin(this.keys.record(callSid), draft.id, JSON.stringify(transfer));
    if (reply[0] === 'begun' || reply[0] === 'exists') return { kind: reply[0], transfer: JSON.parse(reply[1]!) as WarmTransfer };
    return { kind: reply[0] === 'ended' ? 'ended' : reply[0] === 'superseded' ? 'superseded' : 'unknown' };
  }

  /** Records the person's leg: `failed` when the transfer failed meanwhile (the leg must be ended). */
  async linkWarmLeg(id: string, legSid: string): Promise<LinkLegResult> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return 'kept';
    return (await this.redis.bridgeWarmLink(this.keys.record(callSid), id, legSid, now())) as LinkLegResult;
  }

  async acceptWarmTransfer(id: string): Promise<AcceptResult> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return 'unknown';
    return (await this.redis.bridgeWarmAccept(this.keys.record(callSid), id, now())) as AcceptResult;
  }

  /**
   * Fails the transfer unless it already has an outcome (and its action with it). Returns whether this
   * call decided it, and the person's leg (if known) to end.
   */
  async failWarmTransfer(id: string, reason: WarmTransferFailure, opts: { evenIfAccepted?: boolean } = {}): Promise<{ failed: boolean; legSid?: string }> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return { failed: false };
    const reply = await this.redis.bridgeWarmFail(this.keys.record(callSid), id, reason, now(), opts.evenIfAccepted ? '1' : '0');
    if (reply[0] !== 'failed') return { failed: false };
    return { failed: true, ...(reply[1] ? { legSid: reply[1] } : {}) };
  }

  // --- Recording -----------------------------------------------------------------------------------------
  // Consent is decided once; Twilio's status of the recording only moves to a final one; the agent's pause
  // or resume is one ledger at a time, as the action is.

  /** Records the caller's answer to the consent question; the first one stands. Undefined when there is no record. */
  async decideRecordingConsent(callSid: string, decision: Exclude<RecordingConsent, 'announced' | 'asked'>): Promise<RecordingConsent | undefined> {
    const stood = await this.redis.bridgeDecideConsent(this.keys.record(callSid), decision, now());
    return stood === '' ? undefined : (stood as RecordingConsent);
  }

  /** Twilio's recording status callback; false when there is no record or the recording's final status is already in. */
  async recordingStatus(callSid: string, update: RecordingStatusUpdate): Promise<boolean> {
    const reply = await this.redis.bridgeRecordingStatus(
      this.keys.record(callSid),
      update.recordingSid,
      update.status,
      update.url ?? '',
      update.durationS ?? '',
      update.channels ?? '',
      now(),
    );
    return reply === 1;
  }

  /** Takes the agent's pause or resume of the recording, once per request however often it is repeated. */
  async claimRecordingControl(callSid: string, request: { want: RecordingWanted; answer: string }): Promise<ClaimRecordingControlResult> {
    const draft = { ...request, status: 'queued', requestedAt: now() };
    const reply = await this.redis.bridgeClaimRecordingControl(this.keys.record(callSid), JSON.stringify(draft), callSid);
    const kind = reply[0];
    if (kind === 'created' || kind === 'exists' || kind === 'busy') return { kind, control: JSON.parse(reply[1]!) as RecordingControl };
    if (kind === 'noop' || kind === 'not_recorded' || kind === 'ended') return { kind };
    return { kind: 'unknown' };
  }

  async recordingControl(callSid: string): Promise<RecordingControl | null> {
    return parse<RecordingControl>(await this.redis.hget(this.keys.record(callSid), 'recordingControl'));
  }

  /** The pause or resume `jobId` as the exactly-once runner sees it; performed, it sets the recording's status. */
  recordingControlLedger(callSid: string, jobId: string): EffectLedger {
    const update = (change: { status?: 'done' | 'failed'; error?: string; uncertain?: boolean; takeovers?: number; startedAt?: string }) => {
      const at = now();
      return this.redis
        .bridgeUpdateRecordingControl(
          this.keys.record(callSid),
          jobId,
          change.status ?? '',
          change.error ?? '',
          change.uncertain === undefined ? '' : change.uncertain ? '1' : '0',
          at,
          change.takeovers ?? 0,
          change.startedAt ?? at,
        )
        .then((n) => n === 1);
    };
    return {
      read: async () => {
        const control = await this.recordingControl(callSid);
        return control && control.jobId === jobId ? control : 'superseded';
      },
      sending: (window) => update({ uncertain: true, ...window }),
      refused: () => update({ uncertain: false }),
      settle: (status, error) => update({ status, error }),
      ended: (reason) => update({ status: 'failed', error: reason }),
    };
  }
}
