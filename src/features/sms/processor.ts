import { UnrecoverableError, type Job } from 'bullmq';
import type { Twilio } from 'twilio';
import { attemptOf, runEffect } from '../../jobs/effect';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import type { Logger } from '../../observability/logger';
import { twilioErrorDetail } from '../../twilio/errors';
import { noticeJobId, type AgentNoticeJob } from '../actions';
import type { EventSink } from '../events';
import type { SendSmsJob } from './jobs';
import type { SmsRepository } from './repository';
import { findText, sendText } from './twilio';

/**
 * How long a text may keep trying, from the agent's request. Nobody waits on the line for a text the way
 * they wait for a transfer, but the agent said it was sent: it must hear otherwise while the call lasts.
 */
export const SMS_DEADLINE_MS = 30_000;

export type SendSmsResult = 'sent' | 'found_sent' | 'already_sent' | 'superseded';

export interface SmsSenderDeps {
  twilio: Twilio;
  texts: SmsRepository;
  events: EventSink;
  /** Where a failed text's notice to the agent is queued. */
  queue: CallActionQueue;
  publicUrl: string;
  logger: Logger;
}

/**
 * Sends a text the agent asked for, at most once, through the exactly-once runner: the text's record is
 * the ledger, and a look at the messages to the number (from the same sender, since the request, with
 * the same body) tells whether a request whose answer never came was performed. Accepted: `sms.sent`.
 * Refused or out of time: `sms.failed`, and the agent is told in the live call.
 */
export class SmsSender {
  constructor(private readonly deps: SmsSenderDeps) {}

  async process(job: Job<SendSmsJob>): Promise<SendSmsResult> {
    const { texts, twilio, events } = this.deps;
    const { id, callSid } = job.data;
    const log = this.deps.logger.child({ jobId: job.id, callSid, action: 'send_sms', attempt: job.attemptsMade + 1 });
    const message = await texts.get(id);
    if (!message) {
      log.warn('the text is no longer known (expired): nothing to send');
      return 'superseded';
    }
    const outcome = await runEffect<string>(
      {
        ledger: texts.ledger(id),
        deadlineMs: SMS_DEADLINE_MS,
        send: async () => (await sendText(twilio, this.deps.publicUrl, message)).sid,
        look: async (since) => {
          const sid = await findText(twilio, message, since);
          log.info({ found: sid ?? 'nothing' }, 'looked for the text of an earlier attempt');
          return sid ? { found: 'performed', value: sid } : { found: 'not_performed' };
        },
      },
      attemptOf(job),
    );
    const data = { to: message.to, template: message.template, call_sid: callSid };
    switch (outcome.kind) {
      case 'sent':
      case 'found': {
        const sid = outcome.value;
        if (sid) {
          await texts.twilio(id, sid);
          await events.emit('sms.sent', { message_sid: sid, ...data }, { key: sid });
        }
        log.info({ messageSid: sid, segments: message.segments }, outcome.kind === 'sent' ? 'text sent' : 'an earlier attempt had sent the text: not sending it again');
        return outcome.kind === 'sent' ? 'sent' : 'found_sent';
      }
      case 'done_before':
        return 'already_sent';
      case 'superseded':
      case 'failed_before':
        return 'superseded';
      case 'gone':
      case 'failed': {
        const { reason } = outcome;
        const code = outcome.kind === 'failed' && outcome.cause !== undefined ? twilioErrorDetail(outcome.cause).code : undefined;
        // Twilio never accepted it, so there is no Message SID: the event names the text by the call and template.
        await events.emit('sms.failed', { message_sid: '', ...data, ...(code !== undefined ? { error_code: String(code) } : {}) }, { key: id });
        log.error({ reason }, 'the text could not be sent');
        await this.noticeAgent(message.callId, callSid, id, message.template, log);
        throw new UnrecoverableError(reason);
      }
    }
  }

  private async noticeAgent(callId: string | undefined, callSid: string, id: string, template: string, log: Logger): Promise<void> {
    if (!callId) return;
    const context = `The text message (${template}) could not be sent. Tell the caller it did not go through and offer another way to give them the information.`;
    const notice: AgentNoticeJob = { kind: 'agent_notice', callSid, callId, context };
    await addCallAction(this.deps.queue, notice, noticeJobId(id)).catch((err: Error) => log.error({ err: err.message }, 'could not queue the notice to the agent'));
  }
}
