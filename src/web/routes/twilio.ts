import { Router, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { storeCall } from '../../calls/errors';
import { FINAL_TWILIO_STATUSES, type CallLifecycle } from '../../calls/lifecycle';
import type { CallStore } from '../../calls/store';
import type { Config } from '../../config';
import { CALL_SID } from '../../formats';
import type { ByteBudget } from '../../http/byte-budget';
import { HttpError } from '../../http/errors';
import { parseOr400 } from '../../http/validate';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import type { Answer, CallAnswerer } from '../../services/call-answerer';
import { hangupTwiml } from '../../twilio/twiml';
import { readVoiceForm } from '../../twilio/voice-form';
import { twilioForm, verifyTwilioSignature } from '../../twilio/webhook';

const single = (what: string) => z.string({ error: `${what} must be present, once` });

const callSid = single('CallSid').regex(CALL_SID, 'CallSid must be CA followed by 32 hex digits');

const dialActionForm = z.looseObject({
  CallSid: callSid,
  AccountSid: single('AccountSid'),
  DialCallStatus: z.string().max(32).optional(),
});

export const statusForm = z.looseObject({
  CallSid: callSid,
  AccountSid: single('AccountSid'),
  CallStatus: single('CallStatus').max(32),
  CallDuration: z.string().max(16).optional(),
  Timestamp: z.string().max(64).optional(),
});

/** DialCallStatus values that mean the agent never took the call. */
const DIAL_FAILED = new Set(['failed', 'busy', 'no-answer', 'canceled']);

export interface TwilioRoutesDeps {
  config: Pick<Config, 'publicUrl' | 'twilio'>;
  answerer: CallAnswerer;
  store: CallStore;
  lifecycle: CallLifecycle;
  /** Bodies read before their signature is checked, shared with the other unauthenticated routes. */
  budget?: ByteBudget;
  logger: Logger;
  metrics: Metrics;
}

/** Form parsing, then `X-Twilio-Signature` (403 when missing or wrong), for every Twilio webhook. */
export function twilioVerified(config: Pick<Config, 'publicUrl' | 'twilio'>, metrics: Metrics, budget?: ByteBudget): RequestHandler[] {
  return [
    twilioForm(budget),
    verifyTwilioSignature({
      authToken: config.twilio.authToken,
      publicUrl: config.publicUrl,
      onRefused: () => metrics.signatureRefusals.inc({ source: 'twilio' }),
    }),
  ];
}

/**
 * A TwiML answer, written in one go: Express's `send` works out a content type, an ETag and a charset
 * for every response, and the voice webhook answers every call.
 */
export function sendTwiml(res: Response, twiml: string): void {
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(twiml) }).end(twiml);
}

/** A webhook from another Twilio account than ours is answered 400. */
export function checkAccount(config: Pick<Config, 'twilio'>, accountSid: string): void {
  if (accountSid !== config.twilio.accountSid) throw new HttpError(400, 'AccountSid is not the account this bridge serves');
}

/** The voice answer's counters, for inbound and outbound calls alike. */
export function countAnswer(metrics: Metrics, answer: Answer): void {
  metrics.voiceAnswers.inc({ outcome: answer.outcome });
  if (answer.outcome === 'registered' || answer.outcome === 'registered_unguarded') metrics.registrations.inc({ result: 'ok' });
  if (answer.fallbackReason) metrics.fallbacks.inc({ reason: answer.fallbackReason });
}

export function twilioRoutes(deps: TwilioRoutesDeps): Router {
  const { config, answerer, store, lifecycle, logger, metrics } = deps;
  const router = Router();
  const verified = twilioVerified(config, metrics, deps.budget);
  const ourAccount = (accountSid: string) => checkAccount(config, accountSid);

  router.post('/twilio/voice', ...verified, async (req, res) => {
    const form = readVoiceForm(req.body);
    ourAccount(form.AccountSid);
    if (form.CallStatus && FINAL_TWILIO_STATUSES.has(form.CallStatus)) {
      // A finished call (typically a status callback pointed at the voice URL by mistake) must not
      // register a new Retell call that nobody will ever dial.
      logger.warn({ callSid: form.CallSid, callStatus: form.CallStatus }, 'voice webhook for a finished call: not registering');
      sendTwiml(res, hangupTwiml());
      return;
    }
    let answer;
    try {
      answer = await answerer.answer({
        callSid: form.CallSid,
        accountSid: form.AccountSid,
        from: form.From,
        to: form.To,
        twilioDirection: form.Direction,
        callerName: form.CallerName,
        fromCity: form.FromCity,
        fromState: form.FromState,
        fromCountry: form.FromCountry,
        stirVerstat: form.StirVerstat,
      });
    } catch (err) {
      // Whatever broke, the caller hears the fallback rather than Twilio's application-error message.
      logger.error({ callSid: form.CallSid, err }, 'voice webhook failed unexpectedly: answering the fallback');
      answer = answerer.fallback('retell_error');
    }
    countAnswer(metrics, answer);
    sendTwiml(res, answer.twiml);
  });

  // Twilio comes back here when the SIP leg to Retell ends. A leg that never connected (registration
  // expired, Retell refused the INVITE) gets the fallback, so the caller is not simply cut off.
  router.post('/twilio/dial-action', ...verified, async (req, res) => {
    const form = parseOr400(dialActionForm, req.body);
    ourAccount(form.AccountSid);
    const status = form.DialCallStatus ?? 'completed';
    const failed = DIAL_FAILED.has(status);
    await store.update(form.CallSid, { dialStatus: status }).catch((err: Error) => {
      logger.warn({ callSid: form.CallSid, err }, 'could not record the dial result');
    });
    if (failed) {
      logger.warn({ callSid: form.CallSid, dialStatus: status }, 'sip leg to retell did not connect: answering the fallback');
      metrics.fallbacks.inc({ reason: 'sip_dial_failed' });
    }
    sendTwiml(res, failed ? answerer.fallback('retell_error').twiml : hangupTwiml());
  });

  // The number's status callback: records when the call was answered and how it ended.
  router.post('/twilio/status', ...verified, async (req, res) => {
    const form = parseOr400(statusForm, req.body);
    ourAccount(form.AccountSid);
    const status = form.CallStatus;
    const at = parseTimestamp(form.Timestamp);
    const result = await storeCall(() => lifecycle.twilioStatus(form.CallSid, status, at, form.CallDuration));
    logger.info({ callSid: form.CallSid, callStatus: status, result }, 'twilio call status');
    res.status(204).end();
  });

  return router;
}

/** Twilio's RFC 2822 `Timestamp`, as ISO 8601; the time of receipt when absent or unreadable. */
export function parseTimestamp(value: string | undefined): string {
  const ms = value ? Date.parse(value) : Number.NaN;
  return new Date(Number.isNaN(ms) ? Date.now() : ms).toISOString();
}
