import { UnrecoverableError, type Job } from 'bullmq';
import type { Twilio } from 'twilio';
import type { CallRepository } from '../../calls/repository';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { lookForEffect } from './evidence';
import { sayAndHangupTwiml, transferTwiml } from '../../twilio/twiml';
import { failedActionContext } from './agent-notice';
import { noticeJobId, type ActionJob as CallActionJob } from './jobs';
import { attemptOf, runEffect, type Evidence } from '../../jobs/effect';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import type { EventSink, TransferFailure } from '../events';

/**
 * How long an action may keep trying, from the agent's request: a person is waiting on the line, and the
 * agent must hear how it went within 15 s whatever Twilio does. Attempts, backoff and the looks between
 * them all fit inside; past it the action fails and the agent may ask again (or hang up).
 */
export const ACTION_DEADLINE_MS = 11_000;

export interface CallActionProcessorDeps {
  twilio: Twilio;
  calls: CallRepository;
  /** Where a failed action's notice to the agent is queued. */
  queue: CallActionQueue;
  /** Told how each cold transfer ended (`transfer.completed`, `transfer.failed`). @defaultValue none */
  events?: EventSink;
  logger: Logger;
  metrics: Metrics;
}

export type CallActionResult = 'done' | 'found_done' | 'already_done' | 'superseded' | 'call_already_ended';

/**
 * Performs a queued transfer or hang-up on the live Twilio call, at most once, through the exactly-once
 * runner: the action on the call record is its ledger, and a look at the call and its child legs tells
 * whether a request whose answer never came was performed.
 */
export class CallActionProcessor {
  constructor(private readonly deps: CallActionProcessorDeps) {}

  async process(job: Job<CallActionJob>): Promise<CallActionResult> {
    const data = job.data;
    const jobId = job.id ?? '';
    const log = this.deps.logger.child({ jobId, callSid: data.callSid, callId: data.callId, action: data.kind, attempt: job.attemptsMade + 1 });
    const transfer = data.kind === 'transfer';
    const ledger = this.deps.calls.actionLedger(data.callSid, jobId, { done: transfer ? 'transferred' : 'ended', endedAs: transfer ? 'failed' : 'done' });

    let update: { twiml: string } | { status: 'completed' };
    try {
      update = this.request(data);
    } catch (err) {
      // The same input builds the same broken TwiML on every attempt.
      const reason = `could not build TwiML: ${(err as Error).message}`;
      await ledger.settle('failed', reason);
      log.error({ reason }, `${data.kind} failed for good`);
      await this.transferEvent(data, jobId, 'failed', reason);
      throw new UnrecoverableError(reason);
    }

    const outcome = await runEffect(
      {
        ledger,
        deadlineMs: ACTION_DEADLINE_MS,
        send: () => this.deps.twilio.calls(data.callSid).update(update),
        look: async (since): Promise<Evidence<unknown>> => {
          const found = await lookForEffect(this.deps.twilio, data.callSid, transfer ? { kind: 'transfer', target: data.target, since } : { kind: 'end_call', since });
          log.info({ found }, 'looked at the call for an earlier attempt');
          return found === 'performed' ? { found: 'performed' } : found === 'call_ended' ? { found: 'gone' } : { found: 'not_performed' };
        },
      },
      attemptOf(job),
    );

    switch (outcome.kind) {
      case 'sent':
        log.info(transfer ? { destination: data.label } : {}, `${data.kind} performed`);
        await this.transferEvent(data, jobId, 'completed');
        return 'done';
      case 'found':
        log.info('an earlier attempt had been performed: not sending it again');
        await this.transferEvent(data, jobId, 'completed');
        return 'found_done';
      case 'done_before':
        log.info('already performed: skipping');
        return 'already_done';
      case 'superseded':
      case 'failed_before':
        log.warn('a newer action replaced this one: skipping');
        // Replaced by the agent's end_call (or failed by an earlier attempt, which told it already).
        await this.transferEvent(data, jobId, outcome.kind === 'superseded' ? 'canceled' : 'failed');
        return 'superseded';
      case 'gone':
        if (!transfer) {
          // The caller already hung up: what end_call wanted has happened.
          log.info('call had already ended');
          return 'call_already_ended';
        }
        log.warn({ reason: outcome.reason }, 'transfer impossible: the call is no longer in progress');
        await this.transferEvent(data, jobId, 'caller_hung_up', outcome.reason);
        throw new UnrecoverableError(`call not in progress: ${outcome.reason}`);
      case 'failed':
        log.error({ reason: outcome.reason }, `${data.kind} failed for good`);
        await this.transferEvent(data, jobId, 'failed', outcome.reason);
        await this.noticeAgent(data, jobId, log);
        throw new UnrecoverableError(outcome.reason);
    }
  }

  /** A cold transfer's end, told once (its job id): `completed`, or why it failed. Hang-ups tell nothing. */
  private async transferEvent(data: CallActionJob, jobId: string, outcome: 'completed' | TransferFailure, detail?: string): Promise<void> {
    if (data.kind !== 'transfer' || !this.deps.events) return;
    const transfer = { call_sid: data.callSid, ...(data.callId ? { retell_call_id: data.callId } : {}), kind: 'cold' as const, destination: data.label, to: data.target };
    if (outcome === 'completed') await this.deps.events.emit('transfer.completed', transfer, { key: jobId });
    else await this.deps.events.emit('transfer.failed', { ...transfer, reason: outcome, ...(detail ? { detail: detail.slice(0, 500) } : {}) }, { key: jobId });
  }

  /** The agent is still with the caller and believes the action under way: it is told it failed. */
  private async noticeAgent(data: CallActionJob, jobId: string, log: Logger): Promise<void> {
    if (!data.callId) return;
    const context = failedActionContext(data.kind, data.kind === 'transfer' ? data.label : undefined);
    await addCallAction(this.deps.queue, { kind: 'agent_notice', callSid: data.callSid, callId: data.callId, context }, noticeJobId(jobId)).catch((err: Error) =>
      log.error({ err: err.message }, 'could not queue the notice to the agent'),
    );
  }

  /** What to send Twilio; throws when the TwiML cannot be built. */
  private request(data: CallActionJob): { twiml: string } | { status: 'completed' } {
    if (data.kind === 'transfer') {
      return { twiml: transferTwiml({ target: data.target, targetKind: data.targetKind, callerId: data.callerId, message: data.message }) };
    }
    return data.message ? { twiml: sayAndHangupTwiml(data.message) } : { status: 'completed' };
  }
}
