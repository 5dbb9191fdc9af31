import type { WarmTransferFailure } from '../../calls/record';

/** A warm transfer's jobs, on the call-actions queue; the job ids are part of what a deployment keeps across versions. */

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

/** A job of a warm transfer; they share the call-action queue and its worker. */
export type WarmTransferStepJob = WarmTransferJob | WarmTransferJoinJob | WarmTransferOutcomeJob;

/** Job ids of a warm transfer's later steps: one join and one outcome per transfer, however often asked. */
export const joinJobId = (transferId: string) => `join-${transferId}`;
export const outcomeJobId = (transferId: string) => `outcome-${transferId}`;
