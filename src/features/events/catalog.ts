/**
 * The events the bridge tells the user's backend about (EVENTS_WEBHOOK_URL): every fact of a call that
 * happens on the Twilio side, where only the bridge sees it. Each is posted as Standard Webhooks JSON,
 * `{"type", "timestamp", "data"}`; `data` has at least the fields below (more may be added, never
 * removed or renamed: they are a public interface).
 */
import type { WarmTransferFailure } from '../../calls/record';

/** Which call a call event is about, with the ids the user's systems know it by. */
export interface CallIds {
  call_sid: string;
  /** Retell's call id, once registered. */
  retell_call_id?: string;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  /** For a call the bridge placed (POST /calls, or a campaign's attempt). */
  outbound_id?: string;
  campaign_id?: string;
  task_id?: string;
}

export interface EventPayloads {
  /** A call (inbound or outbound) is registered with Retell and dialed to it. */
  'call.started': CallIds & { retell_call_id: string; agent_id: string };
  /** Twilio reports the call over. */
  'call.ended': CallIds & { twilio_status: string; duration_s?: number };
  /**
   * Retell's `call_analyzed` arrived: Retell's call object, joined with the Twilio call it belongs to.
   * `retell_trimmed` lists what was left out of an object too large to post whole (word timings first).
   */
  'call.analyzed': { call_sid: string; retell_call_id: string; retell: Record<string, unknown>; retell_trimmed?: string[] };
  /** A cold or warm transfer the agent asked for was accepted and started. */
  'transfer.started': TransferData;
  /** Cold: the redirect was performed; warm: the caller was joined with the person. */
  'transfer.completed': TransferData;
  /** The transfer gave up; the caller stays with the agent, who is told (unless the caller hung up). */
  'transfer.failed': TransferData & { reason: TransferFailure; detail?: string };
  /** An outbound call changed status (dialing, ringing, in-progress). */
  'outbound.status': OutboundData;
  /** An outbound call ended, with its outcome. */
  'outbound.completed': OutboundData & {
    outcome: string;
    answered_by?: string;
    /** Why a call was not dialed (outcome `do_not_call` or `predial_refused`). */
    reason?: string;
  };
  /** A campaign task reached its final outcome. */
  'campaign.task.completed': { campaign_id: string; task_id: string; to: string; outcome: string; attempts: number };
  /**
   * A campaign has no task left: `completed`, or `canceled` once the calls under way at the cancel are
   * over. Sent once per campaign.
   */
  'campaign.completed': { campaign_id: string; status: 'completed' | 'canceled'; counts: Record<string, number> };
  /**
   * The caller answered the recording consent question (RECORDING_CONSENT=ask): `given` (the call is
   * recorded), `refused` or `no_answer` (it goes on unrecorded).
   */
  'recording.consent': { call_sid: string; consent: 'given' | 'refused' | 'no_answer' };
  /** Twilio's recording of a call is ready in the user's own account. */
  'recording.completed': { call_sid: string; recording_sid: string; url: string; duration_s: number; channels: number };
  /** A `send_sms` message was accepted by Twilio / delivered / failed. */
  'sms.sent': SmsData;
  'sms.delivered': SmsData;
  'sms.failed': SmsData & { error_code?: string };
}

export interface TransferData {
  call_sid: string;
  /** Retell's call id of the agent that asked for it, when known. */
  retell_call_id?: string;
  kind: 'cold' | 'warm';
  /** The destination's name as the agent asked for it (or the number itself). */
  destination: string;
  /** The number or SIP URI dialed. */
  to: string;
}

/**
 * Why a transfer failed: a warm transfer's reasons (the person's leg), and for both kinds `failed` (Twilio
 * refused or did not answer in time), `caller_hung_up` and `canceled` (the agent hung up instead).
 */
export type TransferFailure = WarmTransferFailure;

export interface OutboundData {
  /** The outbound call's id (`out_…`). */
  id: string;
  status: string;
  call_sid?: string;
  campaign_id?: string;
  task_id?: string;
  /** The call as `GET /calls/{id}` shows it at this status (what OUTBOUND_WEBHOOK_URL receives as `call`). */
  call: Record<string, unknown>;
}

export interface SmsData {
  message_sid: string;
  to: string;
  template: string;
  call_sid: string;
}

export type EventType = keyof EventPayloads;

/** Every event type, in the order the catalogue documents them. */
export const EVENT_TYPES: readonly EventType[] = [
  'call.started',
  'call.ended',
  'call.analyzed',
  'transfer.started',
  'transfer.completed',
  'transfer.failed',
  'outbound.status',
  'outbound.completed',
  'campaign.task.completed',
  'campaign.completed',
  'recording.consent',
  'recording.completed',
  'sms.sent',
  'sms.delivered',
  'sms.failed',
];

/**
 * Where a flow records that something happened. `key`, when the same fact can be reported more than once
 * (a repeated webhook, a retried job), names it: one event per type and key, however often emitted.
 * Emitting never throws and never waits on the receiver: on a call's path it is one Redis write.
 */
export interface EventSink {
  emit<T extends EventType>(type: T, data: EventPayloads[T], opts?: { key?: string }): Promise<void>;
  /** Whether an event of `type` would be kept: a flow may skip gathering its data otherwise. @defaultValue always */
  wants?(type: EventType): boolean;
  /**
   * `emit` in two steps, for a flow whose own script can append the event in the same step as its write
   * (the voice webhook's answer): nothing when the type is not kept.
   */
  prepare<T extends EventType>(type: T, data: EventPayloads[T], opts?: { key?: string }): PreparedEvent | undefined;
}

/** An event ready to be appended to the events stream: by a flow's own script, else by `write`. */
export interface PreparedEvent {
  stream: string;
  maxLength: number;
  /** The stream entry's `e` field. */
  entry: string;
  /** Told once a script appended the entry (counted as emitted). */
  appended(): void;
  /** Appends it by itself (where no script could take it along); never throws, as `emit`. */
  write(): Promise<void>;
}
