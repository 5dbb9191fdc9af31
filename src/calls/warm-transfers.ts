import type { RedisClient } from '../redis/connection';
import { callKeys, withScripts, type CallKeys } from './keys';

/**
 * Where a warm transfer stands. `placing` until Twilio has the person's leg, `ringing` while it rings
 * and plays the summary, `accepted` once the person pressed the accept key (the caller is then moved
 * into the conference), `failed` with a reason otherwise. Only `placing` and `ringing` may still move.
 */
export type WarmTransferStatus = 'transfer_placing' | 'transfer_ringing' | 'transfer_accepted' | 'transfer_failed';

/** Why a warm transfer failed; each is told to the agent in its own words. */
export type WarmTransferFailure =
  | 'no_answer'
  | 'busy'
  /** Twilio could not place or connect the leg (a refused number, the account's concurrency limit). */
  | 'failed'
  /** Answered, then hung up before pressing any key. */
  | 'hung_up'
  /** Pressed another key. */
  | 'declined'
  /** Answered and pressed nothing before the prompt timed out. */
  | 'no_response'
  /** Answering-machine detection heard a machine (or a fax). */
  | 'voicemail'
  /** The caller hung up while the person was being rung. */
  | 'caller_hung_up'
  /** The call changed under the transfer (the agent hung up instead). */
  | 'canceled';

/** A call's warm transfer, kept on the call record as JSON under `warmTransfer`. */
export interface WarmTransfer {
  /** The job id of the action (`warm_transfer-CA…-n`); every callback URL of the transfer carries it. */
  id: string;
  status: WarmTransferStatus;
  target: string;
  label: string;
  summary: string;
  /** The caller ID the leg was placed with. */
  from: string;
  /** The Retell call the agent is on, to tell it how the transfer went. */
  callId?: string;
  /** The person's leg, once Twilio has given its CallSid. */
  legSid?: string;
  reason?: WarmTransferFailure;
  /** When the person's phone was rung (the leg placed), accepted, or the transfer failed. */
  placedAt?: string;
  acceptedAt?: string;
  failedAt?: string;
}

/** A warm transfer's id: the action's job id, which names the call it belongs to. */
export const WARM_TRANSFER_ID = /^warm_transfer-(CA[0-9a-f]{32})-(\d{1,6})$/;

/** The call a warm transfer id belongs to, or undefined for anything that is not such an id. */
export function callSidOfTransfer(id: string): string | undefined {
  return WARM_TRANSFER_ID.exec(id)?.[1];
}

export type BeginResult =
  | { kind: 'begun'; transfer: WarmTransfer }
  | { kind: 'exists'; transfer: WarmTransfer }
  /** The action is no longer this transfer's (replaced, or failed), or the call is gone. */
  | { kind: 'superseded' }
  | { kind: 'ended' }
  | { kind: 'unknown' };

export type LinkResult = 'linked' | 'failed' | 'other' | 'kept';
export type AcceptResult = 'accepted' | 'caller_gone' | 'over' | 'unknown';

// Each script works on the call record alone (one key), so it stays in one slot on Redis Cluster.

// ARGV: id, transfer JSON (status placing). Starts the transfer once, while the action is still its own.
const BEGIN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if current and cjson.decode(current).id == ARGV[1] then return {'exists', current} end
if redis.call('HGET', KEYS[1], 'state') == 'ended' then return {'ended'} end
local action = redis.call('HGET', KEYS[1], 'action')
if not action then return {'superseded'} end
local a = cjson.decode(action)
if a.jobId ~= ARGV[1] or a.status ~= 'queued' then return {'superseded'} end
redis.call('HSET', KEYS[1], 'warmTransfer', ARGV[2])
return {'begun', ARGV[2]}
`;

// ARGV: id, leg CallSid, time. The leg's CallSid, from calls.create's answer or from one of its callbacks.
const LINK = `
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if not current then return 'kept' end
local t = cjson.decode(current)
if t.id ~= ARGV[1] then return 'kept' end
if t.legSid and t.legSid ~= ARGV[2] then return 'other' end
if t.status == 'transfer_failed' then
  if not t.legSid then
    t.legSid = ARGV[2]
    redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t))
  end
  return 'failed'
end
if t.legSid then return 'kept' end
t.legSid = ARGV[2]
t.placedAt = ARGV[3]
if t.status == 'transfer_placing' then t.status = 'transfer_ringing' end
redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[3])
return 'linked'
`;

// ARGV: id, time. The person pressed the accept key: it counts only while the caller is still there and
// the call's action is still this transfer (an end_call may have replaced it: the caller is being hung up).
const ACCEPT = `
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if not current then return 'unknown' end
local t = cjson.decode(current)
if t.id ~= ARGV[1] then return 'unknown' end
if t.status == 'transfer_accepted' then return 'accepted' end
if t.status == 'transfer_failed' then return t.reason == 'caller_hung_up' and 'caller_gone' or 'over' end
if redis.call('HGET', KEYS[1], 'state') == 'ended' then return 'caller_gone' end
local action = redis.call('HGET', KEYS[1], 'action')
local a = action and cjson.decode(action)
if not a or a.jobId ~= ARGV[1] or a.status ~= 'queued' then
  t.status = 'transfer_failed'
  t.reason = 'canceled'
  t.failedAt = ARGV[2]
  redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[2])
  return 'over'
end
t.status = 'transfer_accepted'
t.acceptedAt = ARGV[2]
redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[2])
return 'accepted'
`;

// ARGV: id, reason, time, '1' when an accepted transfer may fail too (its caller could not be moved).
// Fails the transfer and, if the call's action is still this transfer's, the action with it, so the
// agent may try again. Returns the leg to end ('' when none is known yet).
const FAIL = `
local current = redis.call('HGET', KEYS[1], 'warmTransfer')
if not current then return {'kept'} end
local t = cjson.decode(current)
if t.id ~= ARGV[1] then return {'kept'} end
local open = t.status == 'transfer_placing' or t.status == 'transfer_ringing' or (ARGV[4] == '1' and t.status == 'transfer_accepted')
if not open then return {'kept'} end
t.status = 'transfer_failed'
t.reason = ARGV[2]
t.failedAt = ARGV[3]
redis.call('HSET', KEYS[1], 'warmTransfer', cjson.encode(t), 'updatedAt', ARGV[3])
local action = redis.call('HGET', KEYS[1], 'action')
if action then
  local a = cjson.decode(action)
  if a.jobId == ARGV[1] and a.status == 'queued' then
    a.status = 'failed'
    a.error = 'warm transfer failed: ' .. ARGV[2]
    a.uncertain = nil
    redis.call('HSET', KEYS[1], 'action', cjson.encode(a), 'error', a.error)
  end
end
return {'failed', t.legSid or ''}
`;

interface WarmTransferCommands {
  bridgeWarmBegin(key: string, id: string, transfer: string): Promise<string[]>;
  bridgeWarmLink(key: string, id: string, legSid: string, at: string): Promise<string>;
  bridgeWarmAccept(key: string, id: string, at: string): Promise<string>;
  bridgeWarmFail(key: string, id: string, reason: string, at: string, fromAccepted: string): Promise<string[]>;
}

/**
 * A warm transfer's progress on the call record. Twilio's callbacks about the person's leg, the caller's
 * own callbacks and the worker's jobs race each other; each step here is one script, so whichever
 * outcome comes first (accepted, or a failure) is the only one, and the rest find it decided.
 */
export class WarmTransfers {
  private readonly keys: CallKeys;
  private readonly redis: RedisClient & WarmTransferCommands;

  constructor(redis: RedisClient, prefix: string) {
    this.keys = callKeys(prefix);
    this.redis = withScripts<WarmTransferCommands>(redis, {
      bridgeWarmBegin: BEGIN,
      bridgeWarmLink: LINK,
      bridgeWarmAccept: ACCEPT,
      bridgeWarmFail: FAIL,
    });
  }

  async get(callSid: string): Promise<WarmTransfer | null> {
    const raw = await this.redis.hget(this.keys.record(callSid), 'warmTransfer');
    return raw ? (JSON.parse(raw) as WarmTransfer) : null;
  }

  /** The inbound call's CallToken, kept from its voice webhook. */
  async callToken(callSid: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.record(callSid), 'callToken')) ?? undefined;
  }

  /** The transfer `id`, if it is the call's current one. */
  async find(id: string): Promise<WarmTransfer | null> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return null;
    const transfer = await this.get(callSid);
    return transfer?.id === id ? transfer : null;
  }

  /** Starts transfer `id` on its call (once: a retry gets what the first attempt wrote). */
  async begin(callSid: string, draft: Omit<WarmTransfer, 'status'>): Promise<BeginResult> {
    const transfer: WarmTransfer = { ...draft, status: 'transfer_placing' };
    const reply = await this.redis.bridgeWarmBegin(this.keys.record(callSid), draft.id, JSON.stringify(transfer));
    if (reply[0] === 'begun' || reply[0] === 'exists') return { kind: reply[0], transfer: JSON.parse(reply[1]!) as WarmTransfer };
    return { kind: reply[0] === 'ended' ? 'ended' : reply[0] === 'superseded' ? 'superseded' : 'unknown' };
  }

  /** Records the person's leg: `failed` when the transfer failed meanwhile (the leg must be ended). */
  async link(id: string, legSid: string): Promise<LinkResult> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return 'kept';
    return (await this.redis.bridgeWarmLink(this.keys.record(callSid), id, legSid, new Date().toISOString())) as LinkResult;
  }

  async accept(id: string): Promise<AcceptResult> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return 'unknown';
    return (await this.redis.bridgeWarmAccept(this.keys.record(callSid), id, new Date().toISOString())) as AcceptResult;
  }

  /**
   * Fails the transfer unless it already has an outcome. Returns whether this call decided it, and the
   * person's leg (if known) to end.
   */
  async fail(id: string, reason: WarmTransferFailure, opts: { evenIfAccepted?: boolean } = {}): Promise<{ failed: boolean; legSid?: string }> {
    const callSid = callSidOfTransfer(id);
    if (!callSid) return { failed: false };
    const reply = await this.redis.bridgeWarmFail(this.keys.record(callSid), id, reason, new Date().toISOString(), opts.evenIfAccepted ? '1' : '0');
    if (reply[0] !== 'failed') return { failed: false };
    return { failed: true, ...(reply[1] ? { legSid: reply[1] } : {}) };
  }
}
