/**
 * The jobs of a cold transfer and a hang-up, on the call-actions queue. The kind names the BullMQ job and
 * starts its id (`transfer-CA…-1`), so it is part of what a deployment keeps across versions: renaming
 * one would orphan jobs queued before an upgrade.
 */

export interface ActionJobBase {
  /** The parent (PSTN) call: updating it tears down the SIP leg to Retell. */
  callSid: string;
  /** Retell's call id, for logs. */
  callId: string | undefined;
  /** Spoken to the caller first. */
  message: string | undefined;
}

export interface TransferJob extends ActionJobBase {
  kind: 'transfer';
  /** E.164 number or SIP URI, already checked against the configured destinations. */
  target: string;
  targetKind: 'number' | 'sip';
  /** The destination's name, or the number itself; for logs and the agent's sentence. */
  label: string;
  /** Caller ID presented to the person answering. */
  callerId: string | undefined;
}

export interface EndCallJob extends ActionJobBase {
  kind: 'end_call';
}

/** The one-shot actions: a cold transfer or a hang-up. */
export type ActionJob = TransferJob | EndCallJob;

/** Tells the agent, in its live call, that something it asked for did not happen (Update Live Call). */
export interface AgentNoticeJob {
  kind: 'agent_notice';
  callSid: string;
  callId: string;
  /** What the agent is told. */
  context: string;
}

/** One notice per failed action, however often its failure is handled. */
export const noticeJobId = (jobId: string) => `notice-${jobId}`;
