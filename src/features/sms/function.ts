import { z } from 'zod';
import { orStoreUnavailable, StoreUnavailableError } from '../../calls/errors';
import { findOrAdoptCall } from '../../calls/find-call';
import type { CallRepository } from '../../calls/repository';
import type { Config } from '../../config';
import { isE164 } from '../../formats';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import type { Logger } from '../../observability/logger';
import { retellFunction, type FunctionOutcome, type RetellFunction } from '../../retell/functions';
import { isAllowlisted, numbersOf, refusal } from '../actions';
import type { SendSmsJob } from './jobs';
import type { SmsRepository } from './repository';
import { renderTemplate } from './text';

/**
 * The arguments' shape only: what they may contain is checked against the configuration in the
 * function, so an unknown template or number, or a variable a text cannot carry, is a 422 with a sentence
 * for the agent rather than a 400.
 */
const sendSmsArgs = z.looseObject({
  template: z.string({ error: 'args.template is required: the name of one of the SMS_TEMPLATES' }).trim().min(1, 'args.template must not be empty').max(200),
  variables: z.record(z.string().max(200), z.unknown(), { error: 'args.variables must be an object of variable name to value' }).optional(),
  to: z.string({ error: 'args.to must be a phone number' }).trim().max(64).optional(),
});

const UNAVAILABLE = "I can't send texts right now. Please try again in a moment.";

export interface SendSmsDeps {
  config: Pick<Config, 'sms' | 'twilio'>;
  calls: CallRepository;
  texts: SmsRepository;
  queue: CallActionQueue;
  logger: Logger;
}

/**
 * `send_sms`: a text from SMS_TEMPLATES, with the agent's variables filled in, to the other party of the
 * call (or a number on SMS_ALLOWLIST). The agent never writes the text itself: a caller steers what an
 * agent writes, and a free text to any number is a spam and phishing channel on the user's account.
 * Everything is checked here, before anything is queued; the worker sends it, once, however often the
 * request is repeated.
 */
export function sendSmsFunction(deps: SendSmsDeps): RetellFunction {
  const { config } = deps;
  const names = Object.keys(config.sms.templates);
  return retellFunction('send_sms', sendSmsArgs, async (call, args): Promise<FunctionOutcome> => {
    const log = deps.logger.child({ callId: call.call_id, action: 'send_sms' });
    const template = config.sms.templates[args.template];
    if (!template || !Object.hasOwn(config.sms.templates, args.template)) {
      return refusal('not_allowed', names.length ? `I can't send that text. The texts I can send are: ${names.join(', ')}.` : "I can't send texts: none are set up.");
    }
    const rendered = renderTemplate(template, args.variables ?? {});
    if (!rendered.ok) return refusal('not_allowed', rendered.sentence);

    let record;
    try {
      record = await orStoreUnavailable(() => findOrAdoptCall(deps.calls, call, config.twilio.accountSid));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.error({ err }, 'redis unavailable: function call refused with 503');
      return refusal('unavailable', UNAVAILABLE);
    }
    if (!record) return refusal('unknown_call', "I can't find this phone call, so I can't send a text.");
    const { callSid } = record;
    const { ours, theirs } = numbersOf(record);

    // LLMs write numbers the way people say them: "+1 (415) 555-0101".
    const asked = args.to?.replace(/[\s().-]/g, '');
    const to = asked || theirs;
    if (!isE164(to)) {
      return refusal('not_allowed', asked ? `${args.to} is not a phone number I can text.` : "I can't text this caller: their number is withheld.", callSid);
    }
    if (to !== theirs && !isAllowlisted(to, config.sms.allowlist)) {
      return refusal('not_allowed', `I can only text ${isE164(theirs) ? "the caller's own number" : 'numbers that are set up for texts'}, not ${to}.`, callSid);
    }
    const sender = config.sms.messagingServiceSid ? { messagingServiceSid: config.sms.messagingServiceSid } : { from: config.sms.from ?? ours };
    if (sender.from !== undefined && !isE164(sender.from)) return refusal('not_allowed', "I can't send texts from this call's number.", callSid);

    let claim;
    try {
      claim = await orStoreUnavailable(() =>
        deps.texts.claim({
          callSid,
          callId: call.call_id,
          template: template.name,
          to,
          ...sender,
          body: rendered.body,
          segments: rendered.segments,
          encoding: rendered.encoding,
          answer: `Sending the text now.`,
        }),
      );
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.error({ callSid, err }, 'redis unavailable: function call refused with 503');
      return refusal('unavailable', UNAVAILABLE, callSid);
    }
    if (claim.kind === 'limit') return refusal('not_allowed', 'No more texts can be sent on this call.', callSid);
    const { message } = claim;
    if (message.status === 'queued') {
      const job: SendSmsJob = { kind: 'send_sms', id: message.id, callSid };
      try {
        // A repeat re-adds the same job id: free if the first add landed, and it recovers a lost one.
        await addCallAction(deps.queue, job, message.id);
      } catch (err) {
        log.error({ callSid, err }, 'queue unavailable: function call refused with 503');
        return refusal('unavailable', UNAVAILABLE, callSid);
      }
    }
    log.info({ callSid, jobId: message.id, template: template.name, segments: message.segments, repeat: claim.kind === 'exists' }, 'send_sms queued');
    const answer = message.status === 'done' ? 'That text has been sent.' : message.answer;
    return { outcome: claim.kind === 'exists' ? 'repeat' : 'queued', status: message.status, result: answer, jobId: message.id, callSid };
  });
}
