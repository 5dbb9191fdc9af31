import { z } from 'zod';
import { findOrAdoptCall } from '../../calls/find-call';
import type { CallAction, CallActionKind, CallRecord } from '../../calls/record';
import type { CallRepository } from '../../calls/repository';
import { orStoreUnavailable, StoreUnavailableError } from '../../calls/errors';
import type { Config } from '../../config';
import { isE164, speakable } from '../../formats';
import { addCallAction, type CallActionJobData, type CallActionQueue } from '../../jobs/queues';
import type { Logger } from '../../observability/logger';
import { retellFunction, type FunctionOutcome, type FunctionOutcomeKind, type RetellCallRef, type RetellFunction } from '../../retell/functions';
import { destinationNames, resolveDestination } from './destinations';
import type { EventSink } from '../events';

/**
 * A sentence the caller will hear. The caller steers what the agent writes, so characters XML cannot
 * carry (control characters, lone surrogates) are removed here, when the function call arrives, rather
 * than failing the TwiML later in the worker; nothing left means no message.
 */
export const spokenMessage = z.string().max(500).transform(speakable).optional();

/** An agent's `destination`: a TRANSFER_DESTINATIONS name or an allow-listed number, checked by resolveDestination. */
export const destinationArg = z.string({ error: 'args.destination is required' }).trim().min(1, 'args.destination must not be empty').max(128);

const transferArgs = z.object({
  destination: destinationArg,
  /** Whose number the person answering sees: the original caller's (default) or the business's. */
  caller_id: z.enum(['caller', 'business']).optional(),
  message: spokenMessage,
});

const endCallArgs = z.object({ message: spokenMessage });

export interface ActionRequestsDeps {
  config: Pick<Config, 'transfer' | 'twilio'>;
  calls: CallRepository;
  queue: CallActionQueue;
  /** Told `transfer.started` when a transfer is accepted and queued. @defaultValue none */
  events?: EventSink;
  logger: Logger;
}

export const refusal = (outcome: FunctionOutcomeKind, result: string, callSid?: string): FunctionOutcome => ({ outcome, status: outcome, result, callSid });

const UNAVAILABLE_SENTENCE = "I can't do that right now. Please try again in a moment.";

/**
 * What every action an agent asks for goes through: find the Twilio call, make sure only one transfer or
 * hang-up happens per call (the call record's action), and queue its job for the worker. A repeat of the
 * same request (Retell retries, agents repeat themselves) gets the same answer and the same job.
 */
export class ActionRequests {
  constructor(private readonly deps: ActionRequestsDeps) {}

  async request(
    call: RetellCallRef,
    request: { kind: CallActionKind; target: string; answer: string; label?: string; summary?: string },
    buildJob: (record: CallRecord) => CallActionJobData,
  ): Promise<FunctionOutcome> {
    const log = this.deps.logger.child({ callId: call.call_id, action: request.kind });
    let record: CallRecord | null;
    let claim;
    try {
      record = await orStoreUnavailable(() => findOrAdoptCall(this.deps.calls, call, this.deps.config.twilio.accountSid));
      if (!record) {
        log.warn('function call for a call the bridge does not know');
        return refusal('unknown_call', "I can't find this phone call, so I can't do that.");
      }
      const callSid = record.callSid;
      claim = await orStoreUnavailable(() => this.deps.calls.claimAction(callSid, request));
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
    if (action.status === 'queued' && request.kind !== 'end_call' && this.deps.events) {
      // Once per transfer (its job id), however often the agent asks.
      await this.deps.events.emit(
        'transfer.started',
        { call_sid: callSid, retell_call_id: call.call_id, kind: request.kind === 'warm_transfer' ? 'warm' : 'cold', destination: request.label ?? request.target, to: request.target },
        { key: action.jobId },
      );
    }
    return { outcome: claim.kind === 'exists' ? 'repeat' : 'queued', callSid, status: action.status, result: action.answer, jobId: action.jobId };
  }
}

/** The sentence an agent hears when it cannot have the destination it named. */
export function notAllowed(transfer: Config['transfer']): FunctionOutcome {
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

/** The bridge's own number and the other party's, from the point of view of the business. */
export function numbersOf(record: Pick<CallRecord, 'direction' | 'from' | 'to'>): { ours: string; theirs: string } {
  return record.direction === 'outbound' ? { ours: record.from, theirs: record.to } : { ours: record.to, theirs: record.from };
}

/**
 * Twilio accepts as caller ID for a PSTN `<Dial>` only the calling number, the called number or a
 * verified number (warning 13214 otherwise), so the caller's own number is shown when it is a real
 * number, and the business's (the number that was called) when it is withheld or asked for.
 */
function callerId(record: CallRecord, choice: 'caller' | 'business', kind: 'number' | 'sip'): string | undefined {
  const { ours, theirs } = numbersOf(record);
  const preferred = choice === 'caller' ? theirs : ours;
  if (isE164(preferred)) return preferred;
  if (kind === 'sip' && preferred) return preferred.replace(/[^A-Za-z0-9+\-_.]/g, '').slice(0, 64) || undefined;
  return isE164(ours) ? ours : undefined;
}

/** `transfer_call` and `end_call`, the agent's cold transfer and hang-up. */
export function actionFunctions(deps: { config: Pick<Config, 'transfer'>; requests: ActionRequests }): RetellFunction[] {
  const { config, requests } = deps;
  return [
    retellFunction('transfer_call', transferArgs, async (call, args) => {
      const destination = resolveDestination(args.destination, config.transfer);
      if (!destination.ok) return notAllowed(config.transfer);
      return requests.request(call, { kind: 'transfer', target: destination.target, label: destination.label, answer: `Transferring the call to ${destination.label} now.` }, (record) => ({
        kind: 'transfer',
        callSid: record.callSid,
        callId: call.call_id,
        target: destination.target,
        targetKind: destination.kind,
        label: destination.label,
        callerId: callerId(record, args.caller_id ?? 'caller', destination.kind),
        message: args.message,
      }));
    }),
    retellFunction('end_call', endCallArgs, (call, args) =>
      requests.request(call, { kind: 'end_call', target: '', answer: 'Ending the call now.' }, (record) => ({
        kind: 'end_call',
        callSid: record.callSid,
        callId: call.call_id,
        message: args.message,
      })),
    ),
  ];
}
