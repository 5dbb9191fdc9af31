import { Router, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { storeCall } from '../../calls/errors';
import type { CallRepository } from '../../calls/repository';
import { FINAL_CALL_STATUSES as FINAL_TWILIO_STATUSES } from '../../twilio/call-status';
import type { Config } from '../../config';
import { CALL_SID, isE164 } from '../../formats';
import type { ByteBudget } from '../../http/byte-budget';
import { HttpError } from '../../http/errors';
import { parseOr400 } from '../../http/validate';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import type { Answer, CallAnswerer } from '../../services/call-answerer';
import { hangupTwiml, transferTwiml } from '../../twilio/twiml';
import { resolveReferTarget } from '../../services/transfer-destinations';
import type { WarmTransferCallbacks } from '../../services/warm-transfer-callbacks';
import { readVoiceForm } from '../../twilio/voice-form';
import { twilioForm, verifyTwilioSignature } from '../../twilio/webhook';

const single = (what: string) => z.string({ error: `${what} must be present, once` });

const callSid = single('CallSid').regex(CALL_SID, 'CallSid must be CA followed by 32 hex digits');

const dialActionForm = z.looseObject({
  CallSid: callSid,
  AccountSid: single('AccountSid'),
  DialCallStatus: z.string().max(32).optional(),
  CallStatus: z.string().max(32).optional(),
});

const referForm = z.looseObject({
  CallSid: callSid,
  AccountSid: single('AccountSid'),
  ReferTransferTarget: single('ReferTransferTarget').min(1, 'ReferTransferTarget must not be empty').max(2048),
  From: z.string().max(256).optional(),
  To: z.string().max(256).optional(),
});

export const statusForm = z.looseObject({
  CallSid: callSid,
  AccountSid: single('AccountSid'),
  CallStatus: single('CallStatus').max(32),
  CallDuration: z.string().max(16).optional(),
  Timestamp: z.string().max(64).optional(),
});

/** Twilio's asynchronous answering-machine verdict, for calls the bridge placed. */
export const amdForm = z.looseObject({
  CallSid: z.string({ error: 'CallSid must be present, once' }).regex(CALL_SID, 'CallSid must be CA followed by 32 hex digits'),
  AccountSid: z.string({ error: 'AccountSid must be present, once' }),
  AnsweredBy: z.enum(['human', 'machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax', 'unknown'], {
    error: 'AnsweredBy must be one of Twilio\'s AMD verdicts',
  }),
  MachineDetectionDuration: z.string().max(16).optional(),
});

/** DialCallStatus values that mean the agent never took the call. */
const DIAL_FAILED = new Set(['failed', 'busy', 'no-answer', 'canceled']);

export interface TwilioRoutesDeps {
  config: Pick<Config, 'publicUrl' | 'twilio' | 'transfer'>;
  answerer: CallAnswerer;
  calls: CallRepository;
  /** Told when a caller's call ends, so a person still being rung for it is let go. */
  warmTransfers: WarmTransferCallbacks;
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
  const { config, answerer, calls, warmTransfers, logger, metrics } = deps;
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
        callToken: form.CallToken,
      });
    } catch (err) {
      // Whatever broke, the caller hears the fallback rather than Twilio's application-error message.
      logger.error({ callSid: form.CallSid, err }, 'voice webhook failed unexpectedly: answering the fallback');
      answer = answerer.fallback('retell_error');
    }
    countAnswer(metrics, answer);
    sendTwiml(res, answer.twiml);
  });

  const callerGone = (callSid: string) =>
    warmTransfers.callerGone(callSid).catch((err: Error) => logger.warn({ callSid, err }, 'could not let a warm transfer go'));

  // Twilio comes back here when the SIP leg to Retell ends. A leg that never connected (registration
  // expired, Retell refused the INVITE) gets the fallback, so the caller is not simply cut off.
  router.post('/twilio/dial-action', ...verified, async (req, res) => {
    const form = parseOr400(dialActionForm, req.body);
    ourAccount(form.AccountSid);
    const status = form.DialCallStatus ?? 'completed';
    const failed = DIAL_FAILED.has(status);
    await calls.update(form.CallSid, { dialStatus: status }).catch((err: Error) => {
      logger.warn({ callSid: form.CallSid, err }, 'could not record the dial result');
    });
    // Twilio also comes here when the caller hangs up during the <Dial>: the call itself is then final.
    if (form.CallStatus && FINAL_TWILIO_STATUSES.has(form.CallStatus)) await callerGone(form.CallSid);
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
    const result = await storeCall(() => calls.twilioStatus(form.CallSid, status, at, form.CallDuration));
    if (FINAL_TWILIO_STATUSES.has(status)) await storeCall(() => warmTransfers.callerGone(form.CallSid));
    logger.info({ callSid: form.CallSid, callStatus: status, result }, 'twilio call status');
    res.status(204).end();
  });

  // Twilio asks what to do with a SIP REFER from the far end of the <Dial> (Retell's own transfer, should
  // it ever send one). The target is checked like any agent's transfer: an allowed one is dialed, and
  // anything else gets the same answer as a call the agent cannot take (FALLBACK_NUMBER or the message),
  // so a refused REFER never dials where it asked and never leaves the caller in silence.
  router.post('/twilio/refer', ...verified, async (req, res) => {
    const form = parseOr400(referForm, req.body);
    ourAccount(form.AccountSid);
    const destination = resolveReferTarget(form.ReferTransferTarget, config.transfer);
    const log = logger.child({ callSid: form.CallSid });
    if (!destination.ok) {
      metrics.referRequests.inc({ result: 'refused' });
      log.warn({ target: form.ReferTransferTarget.slice(0, 256) }, 'sip refer to a destination that is not allowed: refused');
      sendTwiml(res, answerer.fallback('retell_error').twiml);
      return;
    }
    metrics.referRequests.inc({ result: 'transferred' });
    log.info({ destination: destination.label }, 'sip refer: transferring');
    const callerId = [form.From, form.To].find((n) => n !== undefined && isE164(n));
    sendTwiml(res, transferTwiml({ target: destination.target, targetKind: destination.kind, callerId, message: undefined }));
  });

  return router;
}

/** Twilio's RFC 2822 `Timestamp`, as ISO 8601; the time of receipt when absent or unreadable. */
export function parseTimestamp(value: string | undefined): string {
  const ms = value ? Date.parse(value) : Number.NaN;
  return new Date(Number.isNaN(ms) ? Date.now() : ms).toISOString();
}
