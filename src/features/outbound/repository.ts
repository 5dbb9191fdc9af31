import { randomUUID } from 'node:crypto';
import type { EffectLedger } from '../../jobs/effect';
import type { RedisClient } from '../../redis/connection';
import { ScriptedStore } from '../../redis/scripts';
import {
  OUTBOUND_STATUS_RANK,
  OUTBOUND_TTL_MS,
  outboundFieldList,
  parseOutbound,
  type OutboundRecord,
  type OutboundStatus,
  type OutboundUpdate,
} from './record';

/**
 * Keys of outbound calls. Each record's hash tag is its id, so every script below touches one slot on
 * Redis Cluster; the CallSid index and the ringing set are separate keys, never in a script with a record.
 */
export function outboundKeys(prefix: string) {
  return {
    record: (id: string) => `${prefix}:outbound:{${id}}`,
    byCallSid: (callSid: string) => `${prefix}:outbound-call:{${callSid}}`,
    /** Outbound calls placed and not yet answered or ended, scored by when their claim lapses (ms). */
    ringing: `${prefix}:outbound-ringing`,
    /** When (Redis clock, ms) the next calls.create may be sent: the next placement turn. */
    pace: `${prefix}:outbound-pace`,
    /** The calls.create requests of the guard's last window, scored by when (Redis clock, ms) each was admitted or written. */
    sends: `${prefix}:outbound-pace:sent`,
    /** Outbound calls placed and not known to be over, scored by when to look at them at Twilio (ms). */
    looks: `${prefix}:outbound-looks`,
  };
}

// Creates the record unless one exists; an existing one is the same request (same hash) or a clash.
const CREATE = `
local existing = redis.call('HGET', KEYS[1], 'requestHash')
if existing then
  if existing == ARGV[2] then return 'same' end
  return 'different'
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 'created'
`;

// Starts (or resumes) placement. 'again' means an earlier attempt began and may have reached Twilio.
const BEGIN_PLACEMENT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'ended' then return {'ended'} end
local sid = redis.call('HGET', KEYS[1], 'callSid')
if sid then return {'placed', sid} end
redis.call('HINCRBY', KEYS[1], 'placements', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local since = redis.call('HGET', KEYS[1], 'placingSince')
if since then return {'again', since} end
redis.call('HSET', KEYS[1], 'status', 'dialing', 'dialingAt', ARGV[1], 'placingSince', ARGV[1], 'updatedAt', ARGV[1])
return {'first', ARGV[1]}
`;

// Links the Twilio call to the record, once; reports a cancel that came while the call was placed.
const LINK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local sid = redis.call('HGET', KEYS[1], 'callSid')
if sid and sid ~= ARGV[1] then return {'other', sid} end
if not sid then
  redis.call('HSET', KEYS[1], 'callSid', ARGV[1], 'updatedAt', ARGV[2])
  if redis.call('HGET', KEYS[1], 'status') == 'queued' then redis.call('HSET', KEYS[1], 'status', 'dialing', 'dialingAt', ARGV[2]) end
end
return {'linked', redis.call('HGET', KEYS[1], 'cancelRequested') or '', redis.call('HGET', KEYS[1], 'status')}
`;

// Moves the status forward only; 'once' fields keep their first value, 'latest' ones are overwritten.
// ARGV: ranks, status, ttl, count of once pairs, once pairs..., latest pairs...
const ADVANCE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local rank = cjson.decode(ARGV[1])
local current = redis.call('HGET', KEYS[1], 'status')
local moved = 0
if ARGV[2] ~= '' and (rank[ARGV[2]] or -1) > (rank[current] or 0) then
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  moved = 1
end
local once = tonumber(ARGV[4])
for i = 5, 4 + once * 2, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #ARGV > 4 + once * 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 5 + once * 2)) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return moved
`;

// A queued call is canceled outright; one being placed or ringing is marked, for Twilio to cancel.
const CANCEL = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'ended', 'outcome', 'canceled', 'endedAt', ARGV[1], 'updatedAt', ARGV[1])
  return {'canceled'}
end
if status == 'dialing' or status == 'ringing' then
  redis.call('HSET', KEYS[1], 'cancelRequested', '1', 'updatedAt', ARGV[1])
  return {'requested', redis.call('HGET', KEYS[1], 'callSid') or ''}
end
return {'too_late', status}
`;

// Holds a slot for a call about to ring, unless Retell's calls plus ours ringing would use up what outbound may.
// KEYS: ringing set. ARGV: now, until, id, Retell's current calls, calls outbound may have.
const RESERVE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
if tonumber(ARGV[4]) + redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
`;

// Redis's clock in ms, with a fraction: the pacing scripts' times, the same for every worker.
const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

// Hands out send times spaced ARGV[1] ms apart (a fraction allowed) on Redis's clock, shared by every
// worker; returns how long the caller waits for its turn, in whole ms rounded up.
const PACE = `${NOW_MS}local interval = tonumber(ARGV[1])
local at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], string.format('%.3f', at + interval), 'PX', math.ceil(at + interval - now) + 1000)
return math.ceil(at - now)
`;

// How far ahead (ms, Redis's clock) the next placement turn lies: 0 when one is free now.
const TURNS_AHEAD = `${NOW_MS}return math.max(0, math.ceil(tonumber(redis.call('GET', KEYS[1]) or '0') - now))
`;

// Admits one calls.create now when fewer than ARGV[1] were sent within the last ARGV[2] ms (Redis's
// clock): the set holds each request within the window, scored by when it was admitted, or by when it
// was written once the worker said so (SENT), which may be later. ARGV[3] names this request; ARGV[4],
// when not empty, is an earlier admission of the same request, taken back first (its answer came late:
// the request is admitted again when it really goes). Returns {1, when admitted} or {0, ms to wait, when
// it may be admitted}, as decimal strings (ms, Redis's clock).
const ADMIT_SEND = `${NOW_MS}local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[1], ARGV[4]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.3f', now - window))
local n = redis.call('ZCARD', KEYS[1])
if n >= max then
  local from = tonumber(redis.call('ZRANGE', KEYS[1], n - max, n - max, 'WITHSCORES')[2]) + window
  return {0, string.format('%.3f', from - now), string.format('%.3f', from)}
end
local stamp = string.format('%.3f', now)
redis.call('ZADD', KEYS[1], stamp, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window) + 1000)
return {1, stamp}
`;

// The request ARGV[1] was written just now: it counts from now, unless it already counts from later.
// (GT adds it back if it had left the window: a request written that late counts when it went.)
const SENT = `${NOW_MS}redis.call('ZADD', KEYS[1], 'GT', string.format('%.3f', now), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

// The placement's exactly-once marks. Sending is refused once the call ended, was linked, or a cancel came.
// ARGV: '1' sending, '0' refused
const PLACEMENT_MARK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'status') == 'ended' or redis.call('HEXISTS', KEYS[1], 'callSid') == 1 then return 0 end
if ARGV[1] == '1' and redis.call('HEXISTS', KEYS[1], 'cancelRequested') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'placementUncertain', ARGV[1])
return 1
`;

// The cancel's exactly-once marks: only while the call is linked, not ended, and the cancel still asked for.
// ARGV: '1' sending, '0' refused, '' settled (the mark is cleared and so is the request, which is carried out or moot)
const CANCEL_MARK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'cancelUncertain')
  if redis.call('HGET', KEYS[1], 'status') ~= 'ended' then redis.call('HDEL', KEYS[1], 'cancelRequested') end
  return 1
end
if redis.call('HGET', KEYS[1], 'status') == 'ended' or redis.call('HEXISTS', KEYS[1], 'callSid') == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'cancelRequested') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cancelUncertain', ARGV[1])
return 1
`;

interface OutboundCommands {
  bridgeOutboundPlacementMark(key: string, mark: string): Promise<number>;
  bridgeOutboundCancelMark(key: string, mark: string): Promise<number>;
  bridgeOutboundCreate(key: string, ttlMs: number, hash: string, ...fields: string[]): Promise<string>;
  bridgeOutboundBegin(key: string, now: string, ttlMs: number): Promise<string[]>;
  bridgeOutboundLink(key: string, callSid: string, now: string): Promise<string[]>;
  bridgeOutboundAdvance(key: string, ranks: string, status: string, ttlMs: number, once: number, ...fields: string[]): Promise<number>;
  bridgeOutboundCancel(key: string, now: string): Promise<string[]>;
  bridgeOutboundReserve(key: string, now: number, until: number, id: string, current: number, allowed: number): Promise<number>;
  bridgeOutboundPace(key: string, intervalMs: string): Promise<number>;
  bridgeOutboundTurnsAhead(key: string): Promise<number>;
  bridgeOutboundAdmitSend(key: string, max: number, windowMs: number, token: string, replacing: string): Promise<[number, string, string?]>;
  bridgeOutboundSent(key: string, token: string, ttlMs: number): Promise<number>;
}

export type CreateResult = 'created' | 'same' | 'different';

/**
 * A `calls.create` admitted at `at` (Redis's clock, ms) under `token` (its name in the guard), or to ask
 * again after `waitMs` (at `from`, Redis's clock).
 */
export type SendAdmission = { admitted: true; at: number; token: string } | { admitted: false; waitMs: number; from: number };

export type BeginResult =
  | { kind: 'first' }
  /** An earlier attempt began at `since` and may have created the call: look before placing again. */
  | { kind: 'again'; since: string }
  | { kind: 'placed'; callSid: string }
  | { kind: 'ended' }
  | { kind: 'unknown' };

export type LinkResult =
  | { kind: 'linked'; cancelRequested: boolean; status: OutboundStatus }
  /** The record already holds another CallSid. */
  | { kind: 'other'; callSid: string }
  | { kind: 'unknown' };

export type CancelResult =
  | { kind: 'canceled' }
  | { kind: 'requested'; callSid: string | undefined }
  | { kind: 'too_late'; status: OutboundStatus }
  | { kind: 'unknown' };

export type AdvanceResult = 'moved' | 'kept' | 'unknown';

/** Reads and writes outbound call records; every change is one atomic script on the record. */
export class OutboundStore extends ScriptedStore<ReturnType<typeof outboundKeys>, OutboundCommands> {
  private readonly ranks = JSON.stringify(OUTBOUND_STATUS_RANK);

  constructor(redis: RedisClient, prefix: string) {
    super(redis, outboundKeys(prefix), {
      bridgeOutboundCreate: CREATE,
      bridgeOutboundBegin: BEGIN_PLACEMENT,
      bridgeOutboundLink: LINK,
      bridgeOutboundAdvance: ADVANCE,
      bridgeOutboundCancel: CANCEL,
      bridgeOutboundReserve: RESERVE,
      bridgeOutboundPace: PACE,
      bridgeOutboundTurnsAhead: TURNS_AHEAD,
      bridgeOutboundAdmitSend: ADMIT_SEND,
      bridgeOutboundSent: SENT,
      bridgeOutboundPlacementMark: PLACEMENT_MARK,
      bridgeOutboundCancelMark: CANCEL_MARK,
    });
  }

  /** Creates the record, or says whether an existing one came from the same request. */
  async create(record: OutboundRecord): Promise<CreateResult> {
    const reply = await this.redis.bridgeOutboundCreate(this.keys.record(record.id), OUTBOUND_TTL_MS, record.requestHash, ...outboundFieldList(record));
    return reply as CreateResult;
  }

  async get(id: string): Promise<OutboundRecord | null> {
    return parseOutbound(await this.redis.hgetall(this.keys.record(id)));
  }

  async idForCallSid(callSid: string): Promise<string | null> {
    return this.redis.get(this.keys.byCallSid(callSid));
  }

  async beginPlacement(id: string): Promise<BeginResult> {
    const reply = await this.redis.bridgeOutboundBegin(this.keys.record(id), new Date().toISOString(), OUTBOUND_TTL_MS);
    switch (reply[0]) {
      case 'first':
        return { kind: 'first' };
      case 'again':
        return { kind: 'again', since: reply[1]! };
      case 'placed':
        return { kind: 'placed', callSid: reply[1]! };
      case 'ended':
        return { kind: 'ended' };
      default:
        return { kind: 'unknown' };
    }
  }

  /**
   * Links a Twilio call to the record. The CallSid index is taken first, with NX: a call already
   * linked to another outbound record is never taken over (`other`).
   */
  async link(id: string, callSid: string): Promise<LinkResult> {
    const indexed = await this.redis.set(this.keys.byCallSid(callSid), id, 'PX', OUTBOUND_TTL_MS, 'NX');
    if (indexed === null) {
      const owner = await this.redis.get(this.keys.byCallSid(callSid));
      if (owner !== null && owner !== id) return { kind: 'other', callSid };
    }
    const reply = await this.redis.bridgeOutboundLink(this.keys.record(id), callSid, new Date().toISOString());
    if (reply[0] === 'linked') return { kind: 'linked', cancelRequested: reply[1] === '1', status: reply[2] as OutboundStatus };
    if (reply[0] === 'other') return { kind: 'other', callSid: reply[1]! };
    return { kind: 'unknown' };
  }

  /** Moves the call to `status` if that is further along; `once` fields are kept from their first write. */
  async advance(id: string, status: OutboundStatus | undefined, once: OutboundUpdate = {}, latest: OutboundUpdate = {}): Promise<AdvanceResult> {
    const oncePairs = outboundFieldList(once);
    const reply = await this.redis.bridgeOutboundAdvance(
      this.keys.record(id),
      this.ranks,
      status ?? '',
      OUTBOUND_TTL_MS,
      oncePairs.length / 2,
      ...oncePairs,
      ...outboundFieldList({ ...latest, updatedAt: new Date().toISOString() }),
    );
    return reply === -1 ? 'unknown' : reply === 1 ? 'moved' : 'kept';
  }

  async cancel(id: string): Promise<CancelResult> {
    const reply = await this.redis.bridgeOutboundCancel(this.keys.record(id), new Date().toISOString());
    if (reply[0] === 'canceled') return { kind: 'canceled' };
    if (reply[0] === 'requested') return { kind: 'requested', callSid: reply[1] || undefined };
    if (reply[0] === 'too_late') return { kind: 'too_late', status: reply[1] as OutboundStatus };
    return { kind: 'unknown' };
  }

  /**
   * Holds a Retell slot for `id` until `untilMs`, unless Retell's `current` calls and the outbound
   * calls already ringing would reach `allowed`. A call rings before Retell counts it, so without this
   * several workers would each see room and together dial past the limit.
   */
  async reserveSlot(id: string, untilMs: number, current: number, allowed: number): Promise<boolean> {
    const ok = await this.redis.bridgeOutboundReserve(this.keys.ringing, Date.now(), untilMs, id, current, allowed);
    return ok === 1;
  }

  /**
   * Milliseconds to wait before sending the next `calls.create`, so that requests from all workers
   * together leave at most one per `intervalMs` (a fraction of a ms allowed).
   */
  async placementTurn(intervalMs: number): Promise<number> {
    return this.redis.bridgeOutboundPace(this.keys.pace, String(intervalMs));
  }

  /** How many ms ahead the next free placement turn lies (0: one is free now), on Redis's clock. */
  async turnsBookedAhead(): Promise<number> {
    return this.redis.bridgeOutboundTurnsAhead(this.keys.pace);
  }

  /**
   * Admits one `calls.create` now if fewer than `max` were sent within the last `windowMs` (Redis's
   * clock, every worker together); otherwise says how long to wait before asking again. `replacing`
   * takes back this request's earlier admission (its `token`) first.
   */
  async admitSend(max: number, windowMs: number, replacing?: string): Promise<SendAdmission> {
    const token = randomUUID();
    const [admitted, value, from] = await this.redis.bridgeOutboundAdmitSend(this.keys.sends, max, windowMs, token, replacing ?? '');
    return admitted === 1 ? { admitted: true, at: Number(value), token } : { admitted: false, waitMs: Number(value), from: Number(from) };
  }

  /**
   * The admitted request `token` was written to its connection just now: the guard counts it from now
   * (a request may leave well after its admission, and would otherwise bunch with the next second's).
   */
  async sent(token: string, windowMs: number): Promise<void> {
    await this.redis.bridgeOutboundSent(this.keys.sends, token, Math.ceil(windowMs) + 1000);
  }

  /**
   * Placing the call, as the exactly-once runner sees it: done once the record has a CallSid; uncertain
   * while a calls.create is unanswered; superseded once the call ended or a cancel came before it was
   * placed. Settling is the placer's (linking the call it got, or recording why it failed).
   */
  placementLedger(id: string): EffectLedger {
    const key = this.keys.record(id);
    return {
      read: async () => {
        const r = await this.get(id);
        if (!r || r.status === 'ended') return 'superseded';
        const requestedAt = r.placingSince ?? r.createdAt;
        if (r.callSid) return { status: 'done', requestedAt };
        return { status: 'queued', requestedAt, uncertain: r.placementUncertain === '1' || (r.placementUncertain === undefined && r.placingSince !== undefined && Number(r.placements ?? 0) > 1) };
      },
      sending: async () => (await this.redis.bridgeOutboundPlacementMark(key, '1')) === 1,
      refused: async () => (await this.redis.bridgeOutboundPlacementMark(key, '0')) === 1,
      settle: async () => true,
      ended: async () => true,
    };
  }

  /**
   * The worker's cancel of a ringing call, as the runner sees it: queued while the record is linked and a
   * cancel is asked for, done once it ended (canceled or not); settling clears the request.
   */
  cancelLedger(id: string): EffectLedger {
    const key = this.keys.record(id);
    const mark = async (m: string) => (await this.redis.bridgeOutboundCancelMark(key, m)) === 1;
    return {
      read: async () => {
        const r = await this.get(id);
        if (!r || !r.callSid) return 'superseded';
        const requestedAt = r.updatedAt;
        if (r.status === 'ended') return { status: 'done', requestedAt };
        if (!r.cancelRequested) return 'superseded';
        return { status: 'queued', requestedAt, uncertain: r.cancelUncertain === '1' };
      },
      sending: () => mark('1'),
      refused: () => mark('0'),
      settle: () => mark(''),
      ended: () => mark(''),
    };
  }

  /** Gives the slot back: the call was answered (Retell counts it now), or it ended. */
  async releaseSlot(id: string): Promise<void> {
    await this.redis.zrem(this.keys.ringing, id);
  }

  /**
   * Looks at the call at Twilio at `atMs` unless it ended by then (its final status callback may never
   * come: Twilio does not retry one the bridge refused). `onlyIfWatched` moves an existing look only.
   */
  async lookAt(id: string, atMs: number, onlyIfWatched = false): Promise<void> {
    if (onlyIfWatched) await this.redis.zadd(this.keys.looks, 'XX', atMs, id);
    else await this.redis.zadd(this.keys.looks, atMs, id);
  }

  /** Up to `limit` calls whose look at Twilio is due at `nowMs`, earliest first. */
  async looksDue(nowMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.looks, '-inf', nowMs, 'LIMIT', 0, limit);
  }

  /** The call is over (or gone): no more looks at Twilio. */
  async unwatch(id: string): Promise<void> {
    await this.redis.zrem(this.keys.looks, id);
  }
}
