/**
 * A text the agent asked for, as the bridge keeps it: one per template, number and text on a call,
 * under the call's texts record (`sms:{CallSid}`, a hash of its own beside the call record).
 */

export interface SmsMessage {
  /** `send_sms-CA…-n`: the n-th text of the call, and the BullMQ job that sends it. */
  id: string;
  callSid: string;
  /** Retell's call id: the agent is told there if the text cannot be sent. */
  callId?: string;
  template: string;
  to: string;
  /** The sender: a number, or a Messaging Service. */
  from?: string;
  messagingServiceSid?: string;
  body: string;
  segments: number;
  encoding: 'GSM-7' | 'UCS-2';
  /** The exactly-once runner's ledger: queued → (uncertain) → done | failed. */
  status: 'queued' | 'done' | 'failed';
  requestedAt: string;
  startedAt?: string;
  takeovers?: number;
  uncertain?: boolean;
  error?: string;
  /** Twilio's Message SID (`SM…`), once Twilio accepted it. */
  messageSid?: string;
  /** Twilio's MessageStatus from its status callback, forward only. */
  twilioStatus?: string;
  errorCode?: string;
  /** The sentence the agent was given; repeats get the same. */
  answer: string;
}

/** A text's id: the call it belongs to and its number on it. */
export const SMS_ID = /^send_sms-(CA[0-9a-f]{32})-(\d{1,3})$/;

export function callSidOfSms(id: string): string | undefined {
  return SMS_ID.exec(id)?.[1];
}

/** Twilio's MessageStatus values in the order a text goes through them; the last three are final. */
export const MESSAGE_STATUS_RANK: Readonly<Record<string, number>> = {
  accepted: 0,
  scheduled: 0,
  queued: 1,
  sending: 2,
  sent: 3,
  delivered: 4,
  read: 5,
  undelivered: 4,
  failed: 4,
  canceled: 4,
};
