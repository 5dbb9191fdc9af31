import { z } from 'zod';
import { orStoreUnavailable, StoreUnavailableError } from '../../calls/errors';
import { findOrAdoptCall } from '../../calls/find-call';
import type { RecordingWanted } from '../../calls/record';
import type { CallRepository } from '../../calls/repository';
import type { Config } from '../../config';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import type { Logger } from '../../observability/logger';
import { retellFunction, type FunctionOutcome, type RetellCallRef, type RetellFunction } from '../../retell/functions';
import { refusal } from '../actions';
import type { RecordingControlJob } from './jobs';

/** Neither function takes arguments; whatever Retell sends beside none is ignored. */
const noArgs = z.looseObject({});

const UNAVAILABLE = "I can't do that right now. Please try again in a moment.";

const WORDS: Readonly<Record<RecordingWanted, { kind: RecordingControlJob['kind']; queued: string; done: string; busy: string }>> = {
  paused: {
    kind: 'pause_recording',
    queued: 'Pausing the recording now.',
    done: 'The recording is paused.',
    busy: 'The recording is still being resumed; ask again in a moment.',
  },
  'in-progress': {
    kind: 'resume_recording',
    queued: 'Resuming the recording now.',
    done: 'The recording is running.',
    busy: 'The recording is still being paused; ask again in a moment.',
  },
};

export interface RecordingControlsDeps {
  config: Pick<Config, 'twilio'>;
  calls: CallRepository;
  queue: CallActionQueue;
  logger: Logger;
}

/**
 * `pause_recording` and `resume_recording`: for the moments a caller reads out a card number or the
 * like. Each request is taken once on the call record, however often Retell retries it or the agent
 * repeats it, and performed by the worker; a call that is not recorded (off, or consent not given) is
 * answered 422 with a sentence saying so.
 */
export function recordingFunctions(deps: RecordingControlsDeps): RetellFunction[] {
  const control = async (call: RetellCallRef, want: RecordingWanted): Promise<FunctionOutcome> => {
    const words = WORDS[want];
    const log = deps.logger.child({ callId: call.call_id, action: words.kind });
    let callSid: string;
    let claim;
    try {
      const record = await orStoreUnavailable(() => findOrAdoptCall(deps.calls, call, deps.config.twilio.accountSid));
      if (!record) return refusal('unknown_call', "I can't find this phone call, so I can't do that.");
      callSid = record.callSid;
      claim = await orStoreUnavailable(() => deps.calls.claimRecordingControl(callSid, { want, answer: words.queued }));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.error({ err }, 'redis unavailable: function call refused with 503');
      return refusal('unavailable', UNAVAILABLE);
    }
    switch (claim.kind) {
      case 'unknown':
      case 'ended':
        return refusal('ended', 'This call has already ended.', callSid);
      case 'not_recorded':
        return refusal('not_allowed', 'This call is not being recorded, so there is nothing to pause or resume.', callSid);
      case 'noop':
        return { outcome: 'repeat', status: 'done', result: words.done, callSid };
      case 'busy':
        return refusal('conflict', words.busy, callSid);
    }
    const { control } = claim;
    if (control.status === 'queued') {
      const job: RecordingControlJob = { kind: words.kind, callSid, callId: call.call_id, want };
      try {
        // A repeat re-adds the same job id: free if the first add landed, and it recovers a lost one.
        await addCallAction(deps.queue, job, control.jobId);
      } catch (err) {
        log.error({ callSid, err }, 'queue unavailable: function call refused with 503');
        return refusal('unavailable', UNAVAILABLE, callSid);
      }
    }
    log.info({ callSid, jobId: control.jobId, repeat: claim.kind === 'exists' }, `${words.kind} queued`);
    const answer = control.status === 'done' ? words.done : control.answer;
    return { outcome: claim.kind === 'exists' ? 'repeat' : 'queued', status: control.status, result: answer, jobId: control.jobId, callSid };
  };
  return [
    retellFunction('pause_recording', noArgs, (call) => control(call, 'paused')),
    retellFunction('resume_recording', noArgs, (call) => control(call, 'in-progress')),
  ];
}
