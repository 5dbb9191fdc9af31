import type { CallActionKind, WarmTransferFailure } from '../calls/record';

/** What a job asks the worker to do to a live Twilio call. Job name = `kind`. */
export type { CallActionKind, WarmTransferFailure };

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

/** Rings the person for a warm transfer; the job id is the transfer's id. */
export interface WarmTransferJob {
  kind: 'warm_transfer';
  callSid: string;
  callId: string | undefined;
  target: string;
  targetKind: 'number' | 'sip';
  label: string;
  summary: string;
  /** Caller ID for the person's leg: the caller's own number (with the call's CallToken) or the business number. */
  from: string;
  /** Place the leg with the call's CallToken, read from the call record (it is not copied into job data, which tools show). */
  withCallToken: boolean;
}

/** The person accepted: the caller's call is moved into the transfer's conference. */
export interface WarmTransferJoinJob {
  kind: 'warm_transfer_join';
  callSid: string;
  callId: string | undefined;
  transferId: string;
}

/** The transfer failed: the person's leg is ended (when `endLeg`) and the agent is told why. */
export interface WarmTransferOutcomeJob {
  kind: 'warm_transfer_outcome';
  callSid: string;
  callId: string | undefined;
  transferId: string;
  label: string;
  reason: WarmTransferFailure;
  endLeg: boolean;
}

/** Tells the agent, in its live call, that something it asked for did not happen (Update Live Call). */
export interface AgentNoticeJob {
  kind: 'agent_notice';
  callSid: string;
  callId: string;
  /** What the agent is told. */
  context: string;
}

/** Cancels a ringing outbound call at Twilio (DELETE /calls/{id}, or a cancel that came while it was placed). */
export interface OutboundCancelJob {
  kind: 'outbound_cancel';
  /** The outbound call's id (`out_…`). */
  id: string;
  callSid: string;
}

/** A job of a warm transfer; they share the call-action queue and its worker. */
export type WarmTransferStepJob = WarmTransferJob | WarmTransferJoinJob | WarmTransferOutcomeJob;

/** The one-shot actions: a cold transfer or a hang-up. */
export type CallActionStepJob = TransferJob | EndCallJob;

export type CallActionJob = CallActionStepJob | WarmTransferStepJob | AgentNoticeJob | OutboundCancelJob;

/** Job ids of a warm transfer's later steps: one join and one outcome per transfer, however often asked. */
export const joinJobId = (transferId: string) => `join-${transferId}`;
export const outcomeJobId = (transferId: string) => `outcome-${transferId}`;
/** One cancel job per outbound call, however often it is asked for. */
export const cancelJobId = (id: string) => `cancel-${id}`;
/** One notice per failed action, however often its failure is handled. */
export const noticeJobId = (jobId: string) => `notice-${jobId}`;

export const isWarmTransferStep = (job: CallActionJob): job is WarmTransferStepJob => job.kind.startsWith('warm_transfer');

export const CALL_ACTIONS_QUEUE = 'call-actions';

/** BullMQ's key prefix: hash-tagged so every key of the queue lands in one Redis Cluster slot. */
export function queuePrefix(redisPrefix: string): string {
  return `{${redisPrefix}}`;
}
