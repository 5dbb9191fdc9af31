import { UnrecoverableError, type Job } from 'bullmq';
import type { Twilio } from 'twilio';
import type { CallRepository } from '../../calls/repository';
import { attemptOf, runEffect, type Evidence } from '../../jobs/effect';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import type { Logger } from '../../observability/logger';
import { ACTION_DEADLINE_MS, noticeJobId, type AgentNoticeJob } from '../actions';
import type { RecordingControlJob } from './jobs';
import { lookAtRecording, setRecordingStatus } from './twilio';

export type RecordingControlResult = 'done' | 'found_done' | 'already_done' | 'superseded' | 'call_ended';

/** What the agent is told when a pause or resume it asked for did not happen. */
export function failedControlContext(kind: RecordingControlJob['kind']): string {
  return kind === 'pause_recording'
    ? 'Pausing the recording did not work: the call is still being recorded. Do not ask for card numbers or other sensitive details now; tell the caller and offer another way.'
    : 'Resuming the recording did not work: the rest of the call is not being recorded.';
}

/**
 * Pauses or resumes the call's Twilio recording, at most once per request, through the exactly-once
 * runner: the call record's `recordingControl` is the ledger, and a look at the call's recordings tells
 * whether a request whose answer never came was performed. Updating a recording's status is naturally
 * repeatable, but a stale pause arriving after a newer resume is not, so it is sent once and looked for.
 */
export class RecordingControlProcessor {
  constructor(private readonly deps: { twilio: Twilio; calls: CallRepository; queue: CallActionQueue; logger: Logger }) {}

  async process(job: Job<RecordingControlJob>): Promise<RecordingControlResult> {
    const { twilio, calls } = this.deps;
    const data = job.data;
    const jobId = job.id ?? '';
    const log = this.deps.logger.child({ jobId, callSid: data.callSid, callId: data.callId, action: data.kind, attempt: job.attemptsMade + 1 });
    const record = await calls.get(data.callSid);
    const outcome = await runEffect(
      {
        ledger: calls.recordingControlLedger(data.callSid, jobId),
        deadlineMs: ACTION_DEADLINE_MS,
        send: () => setRecordingStatus(twilio, data.callSid, record?.recordingSid, data.want),
        look: async (): Promise<Evidence<void>> => {
          const found = await lookAtRecording(twilio, data.callSid, data.want);
          log.info({ found }, 'looked at the call\'s recording for an earlier attempt');
          return { found };
        },
      },
      attemptOf(job),
    );
    switch (outcome.kind) {
      case 'sent':
        log.info(`recording ${data.want === 'paused' ? 'paused' : 'resumed'}`);
        return 'done';
      case 'found':
        log.info('an earlier attempt had been performed: not sending it again');
        return 'found_done';
      case 'done_before':
        return 'already_done';
      case 'superseded':
      case 'failed_before':
        log.warn('no longer this job\'s to perform: skipping');
        return 'superseded';
      case 'gone':
        log.info('the call is over: nothing to pause or resume');
        return 'call_ended';
      case 'failed':
        log.error({ reason: outcome.reason }, `${data.kind} failed for good`);
        if (data.callId) {
          const notice: AgentNoticeJob = { kind: 'agent_notice', callSid: data.callSid, callId: data.callId, context: failedControlContext(data.kind) };
          await addCallAction(this.deps.queue, notice, noticeJobId(jobId)).catch((err: Error) => log.error({ err: err.message }, 'could not queue the notice to the agent'));
        }
        throw new UnrecoverableError(outcome.reason);
    }
  }
}
