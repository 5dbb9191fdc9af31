/**
 * The call record: one Redis hash per Twilio CallSid, the single place the bridge keeps what it knows
 * about a call. This module holds its fields, the order of its states, and the shapes of the action and
 * the warm transfer kept on it; `CallRepository` (repository.ts) is the only writer, through the scripts
 * in scripts.ts.
 */
import type { RecordingChannels } from '../config';
import type { CallDirection } from '../formats';

export type { CallDirection, RecordingChannels };

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

  // Recording in the user's Twilio account (see src/features/recording).
  /** How the call is recorded, `mono` or `dual`, when it is meant to be; unset: not recorded. */
  recording?: RecordingChannels;
  /** What the caller was told or asked, and what they answered (see `RecordingConsent`). */
  recordingConsent?: RecordingConsent;
  /** When the caller answered the consent question. */
  recordingConsentAt?: string;
  /** Twilio's recording of the call (`RE…`), once a recording status callback named it. */
  recordingSid?: string;
  /** Twilio's status of that recording: `in-progress`, `paused`, then `completed`, `absent` or `failed`. */
  recordingStatus?: string;
  /** Where the finished recording is (Twilio's RecordingUrl), its length in seconds and its channels. */
  recordingUrl?: string;
  recordingDuration?: string;
  recordingChannels?: string;
  /** The agent's last pause or resume of the recording, as JSON (see `RecordingControl`). */
  recordingControl?: string;

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

/**
 * What an action does to the live call: `transfer` redirects it to a person (Retell's `transfer_call`),
 * `end_call` hangs it up, `warm_transfer` rings a person while the agent stays with the caller and joins
 * them only when the person accepts. The kind names the BullMQ job and starts its id, so it is part of what a
 * deployment keeps across versions: renaming one would orphan jobs queued before the upgrade.
 */
export type CallActionKind = 'transfer' | 'end_call' | 'warm_transfer';

/**
 * The one action (transfer or hang-up) a call may have at a time, kept on the call record as JSON.
 * It makes function calls idempotent: Retell retries a slow function call up to twice and agents
 * repeat themselves, and each repeat must find the action already there rather than queue another.
 */
export interface CallAction {
  kind: CallActionKind;
  /** 1 for the first action on the call; each action that replaces an earlier one gets the next number. */
  seq: number;
  jobId: string;
  status: 'queued' | 'done' | 'failed';
  /** What the action is aimed at (destination for transfers), to tell a repeat from a different request. */
  target: string;
  /** The sentence the agent was given; repeats get the same. */
  answer: string;
  /** warm_transfer: the destination's name (or the number) and the agent's summary for the person. */
  label?: string;
  summary?: string;
  requestedAt: string;
  /**
   * When the first request for it was sent to Twilio, or the first after its job was taken over from a
   * worker that died: its time limit counts from here.
   */
  startedAt?: string;
  /** How many times its job had been taken over (BullMQ's stalled counter) when `startedAt` was set. */
  takeovers?: number;
  /**
   * A request for this action was sent to Twilio and its outcome is unknown (a timeout, a dropped
   * connection, a 5xx, or a worker that died mid-request): it may have been performed, so the next
   * attempt looks at the call before sending anything.
   */
  uncertain?: boolean;
  /** The job of the action this one replaced (an end_call taking over from an unfinished transfer). */
  replaced?: string;
  error?: string;
}

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

/** The action on a record read from Redis, if it has one. */
export function actionOf(record: Pick<CallRecord, 'action'>): CallAction | undefined {
  return record.action ? (JSON.parse(record.action) as CallAction) : undefined;
}

/** The warm transfer on a record read from Redis, if it has one. */
export function warmTransferOf(record: Pick<CallRecord, 'warmTransfer'>): WarmTransfer | undefined {
  return record.warmTransfer ? (JSON.parse(record.warmTransfer) as WarmTransfer) : undefined;
}

/**
 * Consent to record, as the call record keeps it: `announced` (the disclosure was said, the call is
 * recorded), `asked` (the caller is being asked), then the caller's answer: `given` (pressed 1 or said
 * yes: recorded), `refused` (another key or answer) or `no_answer` (nothing before the question timed
 * out). Only `announced` and `given` calls are recorded.
 */
export type RecordingConsent = 'announced' | 'asked' | 'given' | 'refused' | 'no_answer';

/** Whether a call with this consent is recorded. */
export const isRecordedConsent = (consent: RecordingConsent | undefined): boolean => consent === 'announced' || consent === 'given';

/** Twilio's final statuses of a recording: nothing can pause or resume it any more. */
export const FINAL_RECORDING_STATUSES: ReadonlySet<string> = new Set(['stopped', 'completed', 'absent', 'failed']);

/** What the agent can ask of a recording: Twilio's `Status` for it. */
export type RecordingWanted = 'paused' | 'in-progress';

/**
 * The agent's last pause or resume, kept on the call record as JSON under `recordingControl`: the
 * exactly-once runner's ledger for it (queued → uncertain → done | failed), one at a time per call, so
 * that repeats (Retell retries, an agent saying it twice) find it there instead of sending it again.
 */
export interface RecordingControl {
  want: RecordingWanted;
  /** 1 for the first on the call, then one more for each. */
  seq: number;
  /** `pause_recording-CA…-n` or `resume_recording-CA…-n`: the BullMQ job performing it. */
  jobId: string;
  status: 'queued' | 'done' | 'failed';
  /** The sentence the agent was given; repeats get the same. */
  answer: string;
  requestedAt: string;
  startedAt?: string;
  takeovers?: number;
  uncertain?: boolean;
  error?: string;
}

/** The pause or resume on a record read from Redis, if it has one. */
export function recordingControlOf(record: Pick<CallRecord, 'recordingControl'>): RecordingControl | undefined {
  return record.recordingControl ? (JSON.parse(record.recordingControl) as RecordingControl) : undefined;
}
