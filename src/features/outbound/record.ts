/**
 * The outbound call record: one Redis hash per call the bridge places, keyed by the bridge's own id
 * (`out_…`), holding the request, its progress and its outcome. The Twilio call record (record.ts) stays
 * the per-CallSid record of the live call; the two are linked by `callSid` here and by an index from
 * the CallSid back to this id.
 */

/** Where an outbound call stands; it only ever moves forward. */
export type OutboundStatus = 'queued' | 'dialing' | 'ringing' | 'in-progress' | 'ended';

export const OUTBOUND_STATUS_RANK: Readonly<Record<OutboundStatus, number>> = {
  queued: 0,
  dialing: 1,
  ringing: 2,
  'in-progress': 3,
  ended: 4,
};

/** How an outbound call ended (Retell's names for the dial failures, so Retell-style reporting keeps working). */
export type OutboundOutcome =
  | 'completed'
  | 'dial_busy'
  | 'dial_no_answer'
  | 'dial_failed'
  | 'voicemail_hangup'
  | 'voicemail_message_left'
  | 'canceled'
  /** Not dialed: the number was put on the do-not-call list after the call was queued. */
  | 'do_not_call'
  /** Not dialed: the pre-dial hook (PREDIAL_WEBHOOK_URL) did not allow it in time. */
  | 'predial_refused';

/**
 * What happens when a machine answers: `hangup` hangs up at once, `message` waits for the greeting's
 * beep and leaves `voicemail_message`, `continue` lets the agent carry on (the verdict is still recorded).
 */
export type VoicemailMode = 'hangup' | 'message' | 'continue';

/** Twilio's AnsweredBy values. `machine_end_*` only come with DetectMessageEnd. */
export type AnsweredBy = 'human' | 'machine_start' | 'machine_end_beep' | 'machine_end_silence' | 'machine_end_other' | 'fax' | 'unknown';

/** Flat strings, as stored. */
export interface OutboundRecord {
  id: string;
  status: OutboundStatus;
  createdAt: string;
  updatedAt: string;
  to: string;
  from: string;
  agentId: string;
  agentVersion?: string;
  /** JSON object of strings. */
  dynamicVariables: string;
  /** JSON object. */
  metadata: string;
  voicemail: VoicemailMode;
  voicemailMessage?: string;
  ringTimeoutS: string;
  /** '1' or '0' when the request said whether to record the call (`record`); unset: RECORDING decides. */
  record?: string;
  /** SHA-256 of the request as received, to tell a repeat of an Idempotency-Key from a different request. */
  requestHash: string;
  /** The Idempotency-Key the request came with, if any (the id is derived from it). */
  idempotencyKey?: string;
  /** When the first placement attempt began: a later attempt looks for a call created since, before placing another. */
  placingSince?: string;
  /** Placement attempts begun. */
  placements?: string;
  /**
   * '1' while a calls.create is unanswered (it may have created the call: look before placing again),
   * '0' once Twilio refused it. Records from before this field count as uncertain once placing began.
   */
  placementUncertain?: string;
  /** The same for the worker's `Status=canceled` request of a cancel asked for while the call rang. */
  cancelUncertain?: string;
  callSid?: string;
  /** The last Twilio CallStatus seen. */
  twilioStatus?: string;
  answeredBy?: string;
  /** What the bridge did about a machine: `hangup` or `message`, with the call action's job id. */
  voicemailAction?: string;
  voicemailJobId?: string;
  outcome?: OutboundOutcome;
  errorCode?: string;
  errorMessage?: string;
  dialingAt?: string;
  ringingAt?: string;
  answeredAt?: string;
  endedAt?: string;
  /** Seconds, from Twilio's CallDuration. */
  duration?: string;
  /** Set by a cancel that came while the call was being placed; the placing worker cancels it at Twilio. */
  cancelRequested?: string;
}

/**
 * Told when an outbound call was answered or ended (a campaign follows its attempts so). One Redis write
 * at most on a callback's path; it never throws into the caller's flow.
 */
export type OutboundChangeHook = (record: OutboundRecord, status: 'in-progress' | 'ended') => Promise<void>;

export type OutboundUpdate = Partial<Omit<OutboundRecord, 'id' | 'createdAt' | 'requestHash'>>;

/**
 * A record lives for a day after its last change: long enough for a queue backlog, a call of up to four
 * hours and the late events after it, and then it expires on its own.
 */
export const OUTBOUND_TTL_MS = 24 * 60 * 60 * 1000;

export const OUTBOUND_ID = /^out_[0-9a-f]{32}$/;

/** Twilio's final CallStatus values, and the outcome each means. `completed` may still be a voicemail outcome. */
export const FINAL_STATUS_OUTCOME: Readonly<Record<string, OutboundOutcome>> = {
  completed: 'completed',
  busy: 'dial_busy',
  'no-answer': 'dial_no_answer',
  failed: 'dial_failed',
  canceled: 'canceled',
};

export function outboundFieldList(fields: Partial<OutboundRecord>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out.push(k, String(v));
  return out;
}

export function parseOutbound(hash: Record<string, string>): OutboundRecord | null {
  if (!hash.id || !hash.status) return null;
  return hash as unknown as OutboundRecord;
}

/** The JSON the API answers (GET /calls/{id}) and the outcome webhook carries. */
export interface OutboundView {
  id: string;
  status: OutboundStatus;
  outcome?: OutboundOutcome;
  to: string;
  from: string;
  agent_id: string;
  agent_version?: number;
  voicemail: VoicemailMode;
  ring_timeout_s: number;
  /** Whether the request asked for the call to be recorded (or not); absent: RECORDING decides. */
  record?: boolean;
  dynamic_variables: Record<string, string>;
  metadata: Record<string, unknown>;
  idempotency_key?: string;
  call_sid?: string;
  retell_call_id?: string;
  answered_by?: string;
  error?: { code?: number | string; message: string };
  cancel_requested?: boolean;
  created_at: string;
  updated_at: string;
  dialing_at?: string;
  ringing_at?: string;
  answered_at?: string;
  ended_at?: string;
  duration_s?: number;
}

export function outboundView(r: OutboundRecord, retellCallId?: string): OutboundView {
  const code = r.errorCode === undefined ? undefined : /^\d+$/.test(r.errorCode) ? Number(r.errorCode) : r.errorCode;
  return {
    id: r.id,
    status: r.status,
    ...(r.outcome ? { outcome: r.outcome } : {}),
    to: r.to,
    from: r.from,
    agent_id: r.agentId,
    ...(r.agentVersion !== undefined ? { agent_version: Number(r.agentVersion) } : {}),
    voicemail: r.voicemail,
    ring_timeout_s: Number(r.ringTimeoutS),
    ...(r.record !== undefined ? { record: r.record === '1' } : {}),
    dynamic_variables: JSON.parse(r.dynamicVariables) as Record<string, string>,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    ...(r.idempotencyKey ? { idempotency_key: r.idempotencyKey } : {}),
    ...(r.callSid ? { call_sid: r.callSid } : {}),
    ...(retellCallId ? { retell_call_id: retellCallId } : {}),
    ...(r.answeredBy ? { answered_by: r.answeredBy } : {}),
    ...(r.errorMessage ? { error: { ...(code !== undefined ? { code } : {}), message: r.errorMessage } } : {}),
    ...(r.cancelRequested && r.status !== 'ended' ? { cancel_requested: true } : {}),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    ...(r.dialingAt ? { dialing_at: r.dialingAt } : {}),
    ...(r.ringingAt ? { ringing_at: r.ringingAt } : {}),
    ...(r.answeredAt ? { answered_at: r.answeredAt } : {}),
    ...(r.endedAt ? { ended_at: r.endedAt } : {}),
    ...(r.duration !== undefined ? { duration_s: Number(r.duration) } : {}),
  };
}
