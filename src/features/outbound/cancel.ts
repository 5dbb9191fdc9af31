import { UnrecoverableError, type Job } from 'bullmq';
import type { Twilio } from 'twilio';
import type { OutboundStore } from './repository';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { FINAL_CALL_STATUSES, UNANSWERED_CALL_STATUSES } from '../../twilio/call-status';

import { attemptOf, runEffect } from '../../jobs/effect';
import type { OutboundCancelJob } from './jobs';
import { emitOutboundStatus } from './events';
import type { EventSink } from '../events';

export type CancelResult = 'canceled' | 'too_late' | 'already_ended' | 'superseded';

/**
 * Cancels a ringing outbound call through Twilio's `Status=canceled`, which leaves a call already
 * answered alone: exactly once, through the runner, with a look at the call's status before resending.
 */
export class OutboundCanceler {
  constructor(
    private readonly deps: { twilio: Twilio; store: OutboundStore; events: EventSink; logger: Logger; metrics: Metrics },
  ) {}

  async process(job: Job<OutboundCancelJob>): Promise<CancelResult> {
    const { id, callSid } = job.data;
    const { twilio, store } = this.deps;
    const log = this.deps.logger.child({ jobId: job.id, outboundId: id, callSid, attempt: job.attemptsMade + 1 });
    const outcome = await runEffect<string>(
      {
        ledger: store.cancelLedger(id),
        send: async () => (await twilio.calls(callSid).update({ status: 'canceled' })).status,
        look: async () => {
          const { status } = await twilio.calls(callSid).fetch();
          if (status === 'canceled') return { found: 'performed', value: status };
          if (FINAL_CALL_STATUSES.has(status)) return { found: 'gone' };
          // Still ringing: the cancel did not happen. Answered: a cancel can no longer do anything.
          return UNANSWERED_CALL_STATUSES.has(status) ? { found: 'not_performed' } : { found: 'performed', value: status };
        },
      },
      attemptOf(job),
    );
    switch (outcome.kind) {
      case 'sent':
      case 'found':
        if (outcome.value !== 'canceled') {
          log.info({ twilioStatus: outcome.value }, 'the outbound call was answered before it could be canceled: it goes on');
          return 'too_late';
        }
        if ((await store.advance(id, 'ended', { outcome: 'canceled', endedAt: new Date().toISOString() }, { twilioStatus: 'canceled' })) === 'moved') {
          this.deps.metrics.outboundOutcomes.inc({ outcome: 'canceled' });
          const record = await store.get(id);
          if (record) await emitOutboundStatus(this.deps.events, record, 'ended');
        }
        await store.releaseSlot(id);
        log.info('ringing outbound call canceled');
        return 'canceled';
      case 'done_before':
      case 'gone':
        return 'already_ended';
      case 'superseded':
      case 'failed_before':
        return 'superseded';
      case 'failed':
        log.error({ reason: outcome.reason }, 'could not cancel the outbound call');
        throw new UnrecoverableError(outcome.reason);
    }
  }

}
