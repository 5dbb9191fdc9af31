import { Router } from 'express';
import { z } from 'zod';
import type { CallAnswerer } from '../calls/answerer';
import type { CallRegistry } from '../calls/registry';
import type { Config } from '../config';
import { HttpError } from '../http/errors';
import { parseOr400 } from '../http/validate';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { hangupTwiml } from '../twilio/twiml';
import { twilioForm, verifyTwilioSignature } from '../twilio/webhook';

const single = (what: string) => z.string({ error: `${what} must be present, once` });

const callSid = single('CallSid').regex(/^CA[0-9a-fA-F]{32}$/, 'CallSid must be CA followed by 32 hex digits');

/** Twilio adds parameters without notice, so unknown fields are allowed through. */
const voiceForm = z.looseObject({
  CallSid: callSid,
  AccountSid: single('AccountSid'),
  From: single('From').min(1, 'From must not be empty').max(256),
  To: single('To').min(1, 'To must not be empty').max(256),
  Direction: z.string().max(32).optional(),
  CallerName: z.string().max(256).optional(),
});

const dialActionForm = z.looseObject({
  CallSid: callSid,
  AccountSid: single('AccountSid'),
  DialCallStatus: z.string().max(32).optional(),
});

/** DialCallStatus values that mean the agent never took the call. */
const DIAL_FAILED = new Set(['failed', 'busy', 'no-answer', 'canceled']);

export interface TwilioRoutesDeps {
  config: Pick<Config, 'publicUrl' | 'twilio'>;
  answerer: CallAnswerer;
  registry: CallRegistry;
  logger: Logger;
  metrics: Metrics;
}

export function twilioRoutes(deps: TwilioRoutesDeps): Router {
  const { config, answerer, registry, logger, metrics } = deps;
  const router = Router();
  const verified = [
    twilioForm,
    verifyTwilioSignature({
      authToken: config.twilio.authToken,
      publicUrl: config.publicUrl,
      onRefused: () => metrics.signatureRefusals.inc({ source: 'twilio' }),
    }),
  ];

  const ourAccount = (accountSid: string) => {
    if (accountSid !== config.twilio.accountSid) throw new HttpError(400, 'AccountSid is not the account this bridge serves');
  };

  router.post('/twilio/voice', ...verified, async (req, res) => {
    const form = parseOr400(voiceForm, req.body);
    ourAccount(form.AccountSid);
    let answer;
    try {
      answer = await answerer.answer({
        callSid: form.CallSid,
        accountSid: form.AccountSid,
        from: form.From,
        to: form.To,
        twilioDirection: form.Direction,
        callerName: form.CallerName,
      });
    } catch (err) {
      // Whatever broke, the caller hears the fallback rather than Twilio's application-error message.
      logger.error({ callSid: form.CallSid, err }, 'voice webhook failed unexpectedly: answering the fallback');
      answer = answerer.fallback('retell_error');
    }
    metrics.voiceAnswers.inc({ outcome: answer.outcome });
    if (answer.outcome === 'duplicate') metrics.dedupeHits.inc();
    if (answer.outcome === 'registered' || answer.outcome === 'registered_unguarded') metrics.registrations.inc({ result: 'ok' });
    if (answer.fallbackReason) metrics.fallbacks.inc({ reason: answer.fallbackReason });
    res.status(200).type('text/xml').send(answer.twiml);
  });

  // Twilio comes back here when the SIP leg to Retell ends. A leg that never connected (registration
  // expired, Retell refused the INVITE) gets the fallback, so the caller is not simply cut off.
  router.post('/twilio/dial-action', ...verified, async (req, res) => {
    const form = parseOr400(dialActionForm, req.body);
    ourAccount(form.AccountSid);
    const status = form.DialCallStatus ?? 'completed';
    const failed = DIAL_FAILED.has(status);
    await registry.update(form.CallSid, { dialStatus: status }).catch((err: Error) => {
      logger.warn({ callSid: form.CallSid, err: err.message }, 'could not record the dial result');
    });
    if (failed) {
      logger.warn({ callSid: form.CallSid, dialStatus: status }, 'sip leg to retell did not connect: answering the fallback');
      metrics.fallbacks.inc({ reason: 'sip_dial_failed' });
    }
    res.status(200).type('text/xml').send(failed ? answerer.fallback('retell_error').twiml : hangupTwiml());
  });

  return router;
}
