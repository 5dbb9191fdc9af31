/**
 * The call record: one Redis hash per Twilio CallSid, the single place the bridge keeps what it knows
 * about a call. This module owns its fields, the order of its states and its encoding; the classes that
 * write it (the answer claim, the store, the lifecycle, the actions) all go through these definitions.
 */
import type { CallDirection } from '../formats';

export type { CallDirection };

/**
 * Where a call stands, as far as the bridge knows. Later stages (status callbacks, Retell webhooks,
 * performed actions) move it forward; `registering` only exists while the first webhook holds the
 * claim. A transfer or hang-up that is asked for but not yet performed is the record's `action`, not a
 * state, because it may still fail and leave the call where it was.
 */
export type CallState =
  | 'registering'
  | 'registered'
  | 'fallback'
  /** The lookup hook refused the call: Twilio was told to reject it, and nothing was registered. */
  | 'rejected'
  | 'in-progress'
  | 'transferred'
  | 'ended';

/**
 * How far along each state is. Events from Twilio and Retell arrive late, twice, or out of order
 * (Retell retries webhooks and has been seen sending duplicates; status callbacks race the webhooks;
 * a registration can finish after the call was already transferred), so whoever writes the state, it
 * only ever moves forward: a late `call_started` cannot revive an ended call.
 */
export const STATE_RANK: Readonly<Record<CallState, number>> = {
  registering: 0,
  registered: 1,
  fallback: 1,
  rejected: 1,
  'in-progress': 2,
  transferred: 3,
  ended: 4,
};

/**
 * Lua for the record's scripts: `advance_state(key, wanted)` moves the state to `wanted` only when it
 * is further along (or when there is none yet) and returns 1 if it moved. States written by an older
 * version and no longer known rank as far along as `in-progress`.
 */
export const LUA_ADVANCE_STATE = `
local STATE_RANK = cjson.decode('${JSON.stringify(STATE_RANK)}')
local function advance_state(key, wanted)
  if wanted == nil or wanted == '' then return 0 end
  local current = redis.call('HGET', key, 'state')
  if current and (STATE_RANK[wanted] or -1) <= (STATE_RANK[current] or 2) then return 0 end
  redis.call('HSET', key, 'state', wanted)
  return 1
end
`;

/** Flat strings, so a field can be updated alone. Optional fields appear as the call goes on. */
export interface CallRecord {
  callSid: string;
  accountSid: string;
  from: string;
  to: string;
  direction: CallDirection;
  state: CallState;
  createdAt: string;
  updatedAt: string;
  /** Retell's call id, once registered. */
  callId?: string;
  agentId?: string;
  /** What the lookup hook said, when one is configured (a `LookupResult`: ok, rejected, timeout, ...). */
  lookup?: string;
  /** The TwiML every repeat of the voice webhook receives. */
  twiml?: string;
  /** Why the call got the fallback, or why the last action on it failed. */
  error?: string;
  /** The call's one transfer or hang-up, as JSON (see `CallAction` in actions.ts). */
  action?: string;
  /** The request registering the call, and until when (ms, Redis clock) it may; see claim.ts. */
  claim_owner?: string;
  claim_until?: string;
  /** `DialCallStatus` of the SIP leg to Retell, once it has ended. */
  dialStatus?: string;
  /** Twilio's CallToken from the voice webhook: a warm transfer's leg placed with it may show the caller's number. */
  callToken?: string;
  /** The warm transfer under way or last tried, as JSON (see `WarmTransfer` in warm-transfers.ts). */
  warmTransfer?: string;

  // Twilio status callbacks.
  queuedAt?: string;
  initiatedAt?: string;
  ringingAt?: string;
  answeredAt?: string;
  endedAt?: string;
  endReason?: string;
  duration?: string;
  twilioStatus?: string;

  // Retell call events.
  agentStartedAt?: string;
  agentEndedAt?: string;
  disconnectionReason?: string;
  agentDurationMs?: string;
  analyzedAt?: string;
  summary?: string;
  userSentiment?: string;
  callSuccessful?: string;
}

export type CallField = keyof CallRecord;

/** Fields that may be written after the record exists (its identity is written once, at creation). */
export type CallUpdate = Partial<Omit<CallRecord, 'callSid' | 'accountSid' | 'direction' | 'createdAt'>>;

/**
 * Records outlive the longest call Twilio allows (4 h by default) plus the late lifecycle events
 * (Retell's call_analyzed can come minutes after hang-up), then expire on their own.
 */
export const RECORD_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Fields as the flat [name, value, name, value, ...] list HSET and the scripts take; unset ones are left
 * out, and so is `state`, which only `advance_state` writes.
 */
export function fieldList(fields: Partial<CallRecord>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && k !== 'state') out.push(k, v as string);
  return out;
}

/** A record read back from Redis, or null for a missing hash or a fragment without its identity. */
export function parseRecord(hash: Record<string, string>): CallRecord | null {
  if (!hash.callSid) return null;
  return hash as unknown as CallRecord;
}
