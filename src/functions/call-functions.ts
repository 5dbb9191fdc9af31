import type { CallActions, CallAction } from '../calls/actions';
import type { CallRecord, CallRegistry } from '../calls/registry';
import { findCallForRetell, type RetellCallRef } from '../calls/retell-lookup';
import type { Config } from '../config';
import { addCallAction, type CallActionQueue } from '../jobs/queue';
import type { CallActionJob } from '../jobs/types';
import type { Logger } from '../observability/logger';
import { destinationNames, resolveDestination } from '../transfers/destinations';

export interface TransferArgs {
  destination: string;
  /** Whose number the person answering sees: the original caller's (default) or the business's. */
  caller_id?: 'caller' | 'business';
  message?: string;
}

export interface EndCallArgs {
  message?: string;
}

/** The HTTP answer to a function call: a status and a sentence the agent can use. */
export interface FunctionAnswer {
  status: number;
  body: { result: string; status: string; job_id?: string };
  /** For metrics and logs. */
  outcome: 'queued' | 'repeat' | 'unknown_call' | 'ended' | 'conflict' | 'not_allowed' | 'unavailable';
  callSid?: string;
}

export interface CallFunctionsDeps {
  config: Pick<Config, 'transfer' | 'twilio'>;
  registry: CallRegistry;
  actions: CallActions;
  queue: CallActionQueue;
  logger: Logger;
}

const E164 = /^\+[1-9]\d{6,14}$/;

const UNAVAILABLE: FunctionAnswer = {
  status: 503,
  outcome: 'unavailable',
  body: { status: 'unavailable', result: "I can't do that right now. Please try again in a moment." },
};

/**
 * Custom functions an agent calls on its live call: find the Twilio call, make sure only one
 * transfer or hang-up happens per call, and queue it for the worker.
 */
export class CallFunctions {
  constructor(private readonly deps: CallFunctionsDeps) {}

  async transfer(call: RetellCallRef, args: TransferArgs): Promise<FunctionAnswer> {
    const destination = resolveDestination(args.destination, this.deps.config.transfer);
    if (!destination.ok) {
      const names = destinationNames(this.deps.config.transfer);
      return {
        status: 422,
        outcome: 'not_allowed',
        body: {
          status: 'not_allowed',
          result: `I can't transfer calls to that destination.${names.length ? ` I can transfer to: ${names.join(', ')}.` : ''}`,
        },
      };
    }
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

  async endCall(call: RetellCallRef, args: EndCallArgs): Promise<FunctionAnswer> {
    return this.act(call, { kind: 'end_call', target: '', answer: 'Ending the call now.' }, (record) => ({
      kind: 'end_call',
      callSid: record.callSid,
      callId: call.call_id,
      message: args.message,
    }));
  }

  private async act(
    call: RetellCallRef,
    request: { kind: CallActionJob['kind']; target: string; answer: string },
    buildJob: (record: CallRecord) => CallActionJob,
  ): Promise<FunctionAnswer> {
    const log = this.deps.logger.child({ callId: call.call_id, action: request.kind });
    let record: CallRecord | null;
    let claim;
    try {
      record = await findCallForRetell(this.deps.registry, call, this.deps.config.twilio.accountSid);
      if (!record) {
        log.warn('function call for a call the bridge does not know');
        return {
          status: 404,
          outcome: 'unknown_call',
          body: { status: 'unknown_call', result: "I can't find this phone call, so I can't do that." },
        };
      }
      claim = await this.deps.actions.claim(record.callSid, request);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'redis unavailable: function call refused with 503');
      return UNAVAILABLE;
    }
    const callSid = record.callSid;
    if (claim.kind === 'unknown' || claim.kind === 'ended') {
      return { status: 410, outcome: 'ended', callSid, body: { status: 'ended', result: 'This call has already ended.' } };
    }
    const action = claim.action;
    if (claim.kind === 'exists' && (action.kind !== request.kind || action.target !== request.target)) {
      return { status: 409, outcome: 'conflict', callSid, body: { status: 'conflict', result: conflictSentence(action) } };
    }
    // A repeat re-adds the same job id while the action is still queued: free if the first add landed
    // (BullMQ ignores known ids), and it recovers the job if the first add never reached Redis.
    if (action.status === 'queued') {
      try {
        await addCallAction(this.deps.queue, buildJob(record), action.jobId);
      } catch (err) {
        log.error({ callSid, err: (err as Error).message }, 'queue unavailable: function call refused with 503');
        return { ...UNAVAILABLE, callSid };
      }
    }
    log.info({ callSid, jobId: action.jobId, repeat: claim.kind === 'exists' }, `${request.kind} queued`);
    return {
      status: 200,
      outcome: claim.kind === 'exists' ? 'repeat' : 'queued',
      callSid,
      body: { status: action.status, result: action.answer, job_id: action.jobId },
    };
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
    if (E164.test(preferred)) return preferred;
    if (kind === 'sip' && preferred) return preferred.replace(/[^A-Za-z0-9+\-_.]/g, '').slice(0, 64) || undefined;
    return E164.test(ourNumber) ? ourNumber : undefined;
  }
}

function conflictSentence(action: CallAction): string {
  if (action.kind === 'end_call') return 'The call is already being ended, so it cannot be transferred.';
  if (action.status === 'done') return 'The call has already been transferred.';
  return 'The call is already being transferred; that transfer will end this conversation.';
}
