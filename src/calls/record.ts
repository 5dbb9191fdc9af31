/**
 * The call record: one Redis hash per Twilio CallSid, the single place the bridge keeps what it knows
 * about a call. This module owns its fields, the order of its states and its encoding; the classes that
 * write it (the answer claim, the store, the lifecycle, the actions) all go through these definitions.
 */
import type { CallDirection } from '../formats';

export type { CallDirection };

/**
 * Where a call stands, as far as the bridge knows. Later stages (status callbacks, Retell webhooks,
 * transfers) move it forward; `registering` only exists while the first webhook holds the claim.
 */
export type CallState =
  | 'registering'
  | 'registered'
  | 'fallback'
  /** The lookup hook refused the call: Twilio was told to reject it, and nothing was registered. */
  | 'rejected'
  | 'in-progress'
  | 'transferring'
  | 'transferred'
  | 'ending'
  | 'ended';

/**
 * How far along each state is. Events from Twilio and Retell arrive late, twice, or out of order
 * (Retell retries webhooks and has been seen sending duplicates; status callbacks race the
 * webhooks), so a record only ever moves forward: a late `call_started` cannot revive an ended call.
 */
export const STATE_RANK: Readonly<Record<CallState, number>> = {
  registering: 0,
  registered: 1,
  fallback: 1,
  rejected: 1,
  'in-progress': 2,
  transferring: 3,
  ending: 3,
  transferred: 4,
  ended: 5,
};

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

/** Fields as the flat [name, value, name, value, ...] list HSET and the scripts take; unset ones are left out. */
export function fieldList(fields: Partial<CallRecord>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out.push(k, v as string);
  return out;
}

/** A record read back from Redis, or null for a missing hash or a fragment without its identity. */
export function parseRecord(hash: Record<string, string>): CallRecord | null {
  if (!hash.callSid) return null;
  return hash as unknown as CallRecord;
}
