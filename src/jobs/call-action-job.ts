import type { CallActionKind } from '../calls/actions';

/** What a job asks the worker to do to a live Twilio call. Job name = `kind`. */
export type { CallActionKind };

interface BaseJob {
  /** The parent (PSTN) call: updating it tears down the SIP leg to Retell. */
  callSid: string;
  /** Retell's call id, for logs. */
  callId: string | undefined;
  /** Spoken to the caller first. */
  message: string | undefined;
}

export interface TransferJob extends BaseJob {
  kind: 'transfer';
  /** E.164 number or SIP URI, already checked against the configured destinations. */
  target: string;
  targetKind: 'number' | 'sip';
  /** The destination's name, or the number itself; for logs and the agent's sentence. */
  label: string;
  /** Caller ID presented to the person answering. */
  callerId: string | undefined;
}

export interface EndCallJob extends BaseJob {
  kind: 'end_call';
}

export type CallActionJob = TransferJob | EndCallJob;

export const CALL_ACTIONS_QUEUE = 'call-actions';

/** BullMQ's key prefix: hash-tagged so every key of the queue lands in one Redis Cluster slot. */
export function queuePrefix(redisPrefix: string): string {
  return `{${redisPrefix}}`;
}
