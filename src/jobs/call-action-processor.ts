import { UnrecoverableError, type Job } from 'bullmq';
import type { Twilio } from 'twilio';
import type { CallActions } from '../calls/actions';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { sayAndHangupTwiml, transferTwiml } from '../twilio/twiml';
import { classifyTwilioError, describeTwilioError } from '../twilio/errors';
import type { CallActionJob } from './call-action-job';

export interface CallActionProcessorDeps {
  twilio: Twilio;
  actions: CallActions;
  logger: Logger;
  metrics: Metrics;
}

export type CallActionResult = 'done' | 'already_done' | 'superseded' | 'call_already_ended';

/**
 * Performs a queued transfer or hang-up on the live Twilio call.
 *
 * BullMQ delivers at least once (a worker that dies mid-job has its job run again elsewhere), so the
 * action's status on the call record is checked first and set right after Twilio accepts: a job that
 * already reached Twilio is not sent again, except in the instant between Twilio's answer and that write.
 */
export class CallActionProcessor {
  constructor(private readonly deps: CallActionProcessorDeps) {}

  async process(job: Job<CallActionJob>): Promise<CallActionResult> {
    const data = job.data;
    const log = this.deps.logger.child({ jobId: job.id, callSid: data.callSid, callId: data.callId, action: data.kind, attempt: job.attemptsMade + 1 });
    const jobId = job.id ?? '';

    const action = await this.deps.actions.get(data.callSid);
    if (action && action.jobId !== jobId) {
      log.warn({ current: action.jobId }, 'a newer action replaced this one: skipping');
      return 'superseded';
    }
    if (action?.status === 'done') {
      log.info('already performed: skipping');
      return 'already_done';
    }

    try {
      await this.perform(data);
    } catch (err) {
      return this.failed(job, err, log);
    }

    await this.deps.actions.settle(data.callSid, jobId, 'done', { state: data.kind === 'transfer' ? 'transferred' : 'ended' });
    log.info(data.kind === 'transfer' ? { destination: data.label } : {}, `${data.kind} performed`);
    return 'done';
  }

  private async perform(data: CallActionJob): Promise<void> {
    const call = this.deps.twilio.calls(data.callSid);
    if (data.kind === 'transfer') {
      await call.update({
        twiml: transferTwiml({ target: data.target, targetKind: data.targetKind, callerId: data.callerId, message: data.message }),
      });
    } else if (data.message) {
      await call.update({ twiml: sayAndHangupTwiml(data.message) });
    } else {
      await call.update({ status: 'completed' });
    }
  }

  private async failed(job: Job<CallActionJob>, err: unknown, log: Logger): Promise<CallActionResult> {
    const data = job.data;
    const jobId = job.id ?? '';
    const failure = classifyTwilioError(err);
    const reason = describeTwilioError(err);

    if (failure === 'call_not_in_progress') {
      if (data.kind === 'end_call') {
        // The caller already hung up: what end_call wanted has happened.
        await this.deps.actions.settle(data.callSid, jobId, 'done', { state: 'ended' });
        log.info('call had already ended');
        return 'call_already_ended';
      }
      await this.deps.actions.settle(data.callSid, jobId, 'failed', { error: 'call not in progress', state: 'ended' });
      log.warn({ reason }, 'transfer impossible: the call is no longer in progress');
      throw new UnrecoverableError(`call not in progress: ${reason}`);
    }

    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (failure === 'final' || lastAttempt) {
      await this.deps.actions.settle(data.callSid, jobId, 'failed', { error: reason });
      log.error({ reason, failure }, `${data.kind} failed for good`);
      throw new UnrecoverableError(reason);
    }
    this.deps.metrics.jobs.inc({ name: data.kind, result: 'retried' });
    log.warn({ reason }, `${data.kind} failed: will retry`);
    throw new Error(reason);
  }
}
