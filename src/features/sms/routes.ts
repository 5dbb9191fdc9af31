import { type Router, type Request } from 'express';
import { z } from 'zod';
import { orStoreUnavailable } from '../../calls/errors';
import type { Logger } from '../../observability/logger';
import { single } from '../../twilio/forms';
import { accountForm, queryId, twilioRouter, type TwilioRoutesDeps } from '../../twilio/webhook';
import type { EventSink } from '../events';
import { SMS_ID } from './record';
import type { SmsRepository } from './repository';
import { SMS_PATHS } from './twilio';

const messageSid = single('MessageSid').regex(/^(SM|MM)[0-9a-fA-F]{32}$/, 'MessageSid must be SM (or MM) followed by 32 hex digits');

/** A text's status callback (Message resource, "Twilio's request to the StatusCallback URL"). */
const statusForm = z.looseObject({
  AccountSid: single('AccountSid'),
  MessageSid: messageSid,
  MessageStatus: single('MessageStatus').regex(/^[a-z_]{1,32}$/, 'MessageStatus must be one of Twilio\'s message statuses'),
  ErrorCode: z.string().regex(/^\d{1,8}$/, 'ErrorCode must be a number').optional(),
});

/** A message to one of the bridge's numbers (the messaging webhook). */
const incomingForm = z.looseObject({
  AccountSid: single('AccountSid'),
  MessageSid: messageSid,
  From: single('From').max(256),
  To: single('To').max(256),
  Body: z.string().max(16_000).optional(),
  OptOutType: z.string().max(32).optional(),
});

/**
 * The keywords that opt a number out of texts: Twilio's standard ones (it also sends `OptOutType=STOP`
 * for them when the number or its Messaging Service handles opt-outs), matched on the whole message,
 * without case, as Twilio matches them.
 */
export const OPT_OUT_KEYWORDS: ReadonlySet<string> = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);

export function isOptOut(body: string | undefined, optOutType: string | undefined): boolean {
  if (optOutType?.toUpperCase() === 'STOP') return true;
  return OPT_OUT_KEYWORDS.has((body ?? '').trim().replace(/[.!]+$/, '').toUpperCase());
}

/** The text id a status callback URL carries (`?m=send_sms-CA…-n`); the signature covers it. */
const textId = (req: Request) => queryId(req, 'm', SMS_ID, 'the id of a text the bridge sent (send_sms-CA…-n)');

/** Twilio's final statuses of a text that did not arrive. */
const FAILED = new Set(['failed', 'undelivered']);

export interface SmsRoutesDeps extends TwilioRoutesDeps {
  texts: SmsRepository;
  events: EventSink;
  /** A number that texted STOP (or another opt-out keyword) to one of the bridge's numbers. */
  onOptOut: (number: string) => Promise<void>;
  logger: Logger;
}

const EMPTY_MESSAGING_RESPONSE = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/**
 * Twilio's requests about texts, each signed: the status of a text the agent sent (→ `sms.delivered`,
 * `sms.failed`), and messages to the bridge's numbers, where an opt-out keyword puts the sender on the
 * do-not-call list.
 */
export function smsRoutes(deps: SmsRoutesDeps): Router {
  const { config, texts, events, logger } = deps;
  const { router, verified } = twilioRouter(deps);

  router.post(SMS_PATHS.status, ...verified, async (req, res) => {
    const form = accountForm(config, statusForm, req);
    const id = textId(req);
    const status = form.MessageStatus;
    const text = await orStoreUnavailable(() => texts.twilio(id, form.MessageSid, status, form.ErrorCode ?? ''));
    const log = logger.child({ jobId: id, messageSid: form.MessageSid, status });
    if (!text) {
      log.info('status of a text the bridge no longer knows: ignored');
      res.status(204).end();
      return;
    }
    const data = { message_sid: form.MessageSid, to: text.to, template: text.template, call_sid: text.callSid };
    if (status === 'delivered') await events.emit('sms.delivered', data, { key: form.MessageSid });
    if (FAILED.has(status)) await events.emit('sms.failed', { ...data, ...(form.ErrorCode ? { error_code: form.ErrorCode } : {}) }, { key: form.MessageSid });
    log.info({ errorCode: form.ErrorCode }, 'twilio text status');
    res.status(204).end();
  });

  router.post(SMS_PATHS.incoming, ...verified, async (req, res) => {
    const form = accountForm(config, incomingForm, req);
    if (isOptOut(form.Body, form.OptOutType)) {
      await orStoreUnavailable(() => deps.onOptOut(form.From));
      logger.info({ messageSid: form.MessageSid, to: form.To }, 'opt-out keyword received: the sender is on the do-not-call list');
    }
    // No reply from the bridge: Twilio answers the opt-out keywords itself.
    res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' }).end(EMPTY_MESSAGING_RESPONSE);
  });

  return router;
}
