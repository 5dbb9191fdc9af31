import { storeCall, StoreUnavailableError } from '../calls/errors';
import { findOrAdoptCall, type RetellCallRef } from '../calls/find-call';
import type { CallAction, CallActionKind, CallRecord } from '../calls/record';
import type { CallRepository } from '../calls/repository';
import type { Config } from '../config';
import { isE164 } from '../formats';
import type { CallActionJob } from '../jobs/call-action-job';
import { addCallAction, type CallActionQueue } from '../jobs/queue';
import type { Logger } from '../observability/logger';
import { destinationNames, resolveDestination } from './transfer-destinations';

export interface TransferArgs {
  destination: string;
  /** Whose number the person answering sees: the original caller's (default) or the business's. */
  caller_id?: 'caller' | 'business';
  message?: string;
}

export interface WarmTransferArgs {
  destination: string;
  /** For the person taking the call: who is calling and why, in a sentence or two. */
  summary: string;
}

export interface EndCallArgs {
  message?: string;
}

/** How a function call turned out; the route turns it into an HTTP status. */
export type FunctionOutcomeKind =
  /** The action was queued for the worker. */
  | 'queued'
  /** A repeat of a request already taken: the same answer again. */
  | 'repeat'
  | 'unknown_call'
  | 'ended'
  /** Another action is under way or done on this call. */
  | 'conflict'
  /** The destination is not one the agent may use. */
  | 'not_allowed'
  /** Redis (call store or queue) cannot be reached; the caller should retry. */
  | 'unavailable';

/** What the agent hears back: the outcome, a sentence it can use, and the action's state. */
export interface FunctionOutcome {
  outcome: FunctionOutcomeKind;
  /** A sentence for the agent. */
  result: string;
  /** The action's status (`queued`, `done`, `failed`), or the outcome when no action was taken. */
  status: string;
  jobId?: string;
  callSid?: string;
}

export interface CallFunctionsDeps {
  config: Pick<Config, 'transfer' | 'twilio'>;
  calls: CallRepository;
  queue: CallActionQueue;
  logger: Logger;
}

const refusal = (outcome: FunctionOutcomeKind, result: string, callSid?: string): FunctionOutcome => ({ outcome, status: outcome, result, callSid });

const UNAVAILABLE_SENTENCE = "I can't do that right now. Please try again in a moment.";

/**
 * Custom functions an agent calls on its live call: find the Twilio call, make sure only one
 * transfer or hang-up happens per call, and queue it for the worker.
 */
export class CallFunctions {
  constructor(private readonly deps: CallFunctionsDeps) {}

  async transfer(call: RetellCallRef, args: TransferArgs): Promise<FunctionOutcome> {
    const destination = resolveDestination(args.destination, this.deps.config.transfer);
    if (!destination.ok) return notAllowed(this.deps.config.transfer);
    return this.act(call, { kind: 'transfer', target: destination.target, answer: `Transferring the call to ${destination.label} now.` }, (record) => ({
      kind: 'transfer',
      callSid: record.callSid,
      callId: call.call_id,
      target: destination.target,
      targetKind: destination.kind,
      label: destination.label,
      callerId: this.callerId(record, args.caller_id ?? 'caller', destination.kind),
      message: args.message,
    }));
  }

  /**
   * Rings the person while the agent stays with the caller (the worker places the leg; Twilio's callbacks
   * carry it on). Destinations are checked exactly as for a cold transfer.
   */
  async warmTransfer(call: RetellCallRef, args: WarmTransferArgs): Promise<FunctionOutcome> {
    const destination = resolveDestination(args.destination, this.deps.config.transfer);
    if (!destination.ok) return notAllowed(this.deps.config.transfer);
    const answer = `Calling ${destination.label} now; stay with the caller and keep talking. I'll tell you if ${destination.label} doesn't take the call.`;
    return this.act(
      call,
      { kind: 'warm_transfer', target: destination.target, answer, label: destination.label, summary: args.summary },
      (record) => ({
        kind: 'warm_transfer',
        callSid: record.callSid,
        callId: call.call_id,
        target: destination.target,
        targetKind: destination.kind,
        label: destination.label,
        summary: args.summary,
        ...this.legCallerId(record),
      }),
    );
  }

  async endCall(call: RetellCallRef, args: EndCallArgs): Promise<FunctionOutcome> {
    return this.act(call, { kind: 'end_call', target: '', answer: 'Ending the call now.' }, (record) => ({
      kind: 'end_call',
      callSid: record.callSid,
      callId: call.call_id,
      message: args.message,
    }));
  }

  private async act(
    call: RetellCallRef,
    request: { kind: CallActionKind; target: string; answer: string; label?: string; summary?: string },
    buildJob: (record: CallRecord) => CallActionJob,
  ): Promise<FunctionOutcome> {
    const log = this.deps.logger.child({ callId: call.call_id, action: request.kind });
    let record: CallRecord | null;
    let claim;
    try {
      record = await storeCall(() => findOrAdoptCall(this.deps.calls, call, this.deps.config.twilio.accountSid));
      if (!record) {
        log.warn('function call for a call the bridge does not know');
        return refusal('unknown_call', "I can't find this phone call, so I can't do that.");
      }
      const callSid = record.callSid;
      claim = await storeCall(() => this.deps.calls.claimAction(callSid, request));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.error({ err }, 'redis unavailable: function call refused with 503');
      return refusal('unavailable', UNAVAILABLE_SENTENCE);
    }
    const callSid = record.callSid;
    if (claim.kind === 'unknown' || claim.kind === 'ended') return refusal('ended', 'This call has already ended.', callSid);
    const action = claim.action;
    if (claim.kind === 'exists' && (action.kind !== request.kind || action.target !== request.target)) {
      return refusal('conflict', conflictSentence(action, claim.accepted === true), callSid);
    }
    // A repeat re-adds the same job id while the action is still queued: free if the first add landed
    // (BullMQ ignores known ids), and it recovers the job if the first add never reached Redis.
    if (action.status === 'queued') {
      try {
        await addCallAction(this.deps.queue, buildJob(record), action.jobId);
      } catch (err) {
        log.error({ callSid, err }, 'queue unavailable: function call refused with 503');
        return refusal('unavailable', UNAVAILABLE_SENTENCE, callSid);
      }
    }
    log.info({ callSid, jobId: action.jobId, repeat: claim.kind === 'exists' }, `${request.kind} queued`);
    return {
      outcome: claim.kind === 'exists' ? 'repeat' : 'queued',
      callSid,
      status: action.status,
      result: action.answer,
      jobId: action.jobId,
    };
  }

  /**
   * The caller ID of a warm transfer's leg. A call placed through the API may show only the account's
   * numbers, unless it carries the inbound call's CallToken: then Twilio lets it show the original
   * caller's number. Without a token (an outbound call, or a record from before tokens were kept) or
   * a real number to show, the business number is used.
   */
  private legCallerId(record: CallRecord): { from: string; withCallToken: boolean } {
    const ourNumber = record.direction === 'outbound' ? record.from : record.to;
    const theirNumber = record.direction === 'outbound' ? record.to : record.from;
    if (record.callToken && record.direction === 'inbound' && isE164(theirNumber)) return { from: theirNumber, withCallToken: true };
    return { from: ourNumber, withCallToken: false };
  }

  /**
   * Twilio accepts as caller ID for a PSTN `<Dial>` only the calling number, the called number or a
   * verified number (warning 13214 otherwise), so the caller's own number is shown when it is a real
   * number, and the business's (the number that was called) when it is withheld or asked for.
   */
  private callerId(record: CallRecord, choice: 'caller' | 'business', kind: 'number' | 'sip'): string | undefined {
    const ourNumber = record.direction === 'outbound' ? record.from : record.to;
    const theirNumber = record.direction === 'outbound' ? record.to : record.from;
    const preferred = choice === 'caller' ? theirNumber : ourNumber;
    if (isE164(preferred)) return preferred;
    if (kind === 'sip' && preferred) return preferred.replace(/[^A-Za-z0-9+\-_.]/g, '').slice(0, 64) || undefined;
    return isE164(ourNumber) ? ourNumber : undefined;
  }
}

function notAllowed(transfer: Config['transfer']): FunctionOutcome {
  const names = destinationNames(transfer);
  return refusal('not_allowed', `I can't transfer calls to that destination.${names.length ? ` I can transfer to: ${names.join(', ')}.` : ''}`);
}

function conflictSentence(action: CallAction, accepted: boolean): string {
  if (action.kind === 'end_call') return 'The call is already being ended, so it cannot be transferred.';
  if (accepted && action.status === 'queued') return `The caller is being connected to ${action.label ?? 'the person'} who took the call; it can no longer be ended from here.`;
  if (action.kind === 'warm_transfer' && action.status === 'queued') return `I'm already calling ${action.label ?? 'someone'} for this caller; wait for that to finish.`;
  if (action.status === 'done') return 'The call has already been transferred.';
  return 'The call is already being transferred; that transfer will end this conversation.';
}
