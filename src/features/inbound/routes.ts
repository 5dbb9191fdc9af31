import { type Router, type Response } from 'express';
import { z } from 'zod';
import type { CallRepository } from '../../calls/repository';
import type { Config } from '../../config';
import { isE164 } from '../../formats';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { ATTR_CALL_SID, withServerSpan, type Span } from '../../observability/tracing';
import { isFinalCallStatus } from '../../twilio/call-status';
import { callForm, single } from '../../twilio/forms';
import { hangupTwiml, transferTwiml } from '../../twilio/twiml';
import { readVoiceForm, type VoiceForm } from '../../twilio/voice-form';
import { accountForm, checkAccount, sendTwiml, twilioRouter, type TwilioRoutesDeps } from '../../twilio/webhook';
import { resolveReferTarget } from '../actions';
import type { EventSink } from '../events';
import type { Answer, CallAnswerer } from './answerer';

const dialActionForm = callForm({
  DialCallStatus: z.string().max(32).optional(),
  CallStatus: z.string().max(32).optional(),
});

const referForm = callForm({
  ReferTransferTarget: single('ReferTransferTarget').min(1, 'ReferTransferTarget must not be empty').max(2048),
  From: z.string().max(256).optional(),
  To: z.string().max(256).optional(),
});

/** DialCallStatus values that mean the agent never took the call. */
const DIAL_FAILED = new Set(['failed', 'busy', 'no-answer', 'canceled']);

export interface InboundRoutesDeps extends TwilioRoutesDeps {
  config: Pick<Config, 'publicUrl' | 'twilio' | 'transfer'>;
  answerer: CallAnswerer;
  calls: CallRepository;
  /** Told when a caller's call ends, so whatever still waits on it (a person being rung) is let go. */
  onCallEnded: (callSid: string) => Promise<void>;
  /** Told of a transfer by SIP REFER (`transfer.started`, `transfer.completed`). @defaultValue none */
  events?: EventSink;
  logger: Logger;
  metrics: Metrics;
}

/** What a voice answer came to, on its span. */
function answerAttributes(answer: Answer): Record<string, string> {
  return {
    'bridge.answer': answer.outcome,
    ...(answer.lookup ? { 'bridge.lookup': answer.lookup } : {}),
    ...(answer.fallbackReason ? { 'bridge.fallback_reason': answer.fallbackReason } : {}),
  };
}

/** The voice answer's counters, for inbound and outbound calls alike. */
export function countAnswer(metrics: Metrics, answer: Answer): void {
  metrics.voiceAnswers.inc({ outcome: answer.outcome });
  if (answer.outcome === 'registered' || answer.outcome === 'registered_unguarded') metrics.registrations.inc({ result: 'ok' });
  if (answer.fallbackReason) metrics.fallbacks.inc({ reason: answer.fallbackReason });
}

/**
 * A call arriving at a Twilio number: the voice webhook (registered with Retell once, answered with the
 * `<Dial><Sip>`), the `<Dial>`'s action when the SIP leg to Retell ends, and Twilio's question about a SIP
 * REFER from the far end of that leg.
 */
export function inboundRoutes(deps: InboundRoutesDeps): Router {
  const { config, answerer, calls, logger, metrics } = deps;
  const { router, verified } = twilioRouter(deps);

  const answerVoice = async (form: VoiceForm, res: Response, span: Span) => {
    checkAccount(config, form.AccountSid);
    if (isFinalCallStatus(form.CallStatus)) {
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
    if (span.isRecording()) span.setAttributes(answerAttributes(answer));
    sendTwiml(res, answer.twiml);
  };

  router.post('/twilio/voice', ...verified, (req, res) => {
    const form = readVoiceForm(req.body);
    return withServerSpan('twilio.voice', req, '/twilio/voice', { [ATTR_CALL_SID]: form.CallSid }, (span) => answerVoice(form, res, span));
  });

  // Twilio comes back here when the SIP leg to Retell ends. A leg that never connected (registration
  // expired, Retell refused the INVITE) gets the fallback, so the caller is not simply cut off.
  router.post('/twilio/dial-action', ...verified, async (req, res) => {
    const form = accountForm(config, dialActionForm, req);
    const status = form.DialCallStatus ?? 'completed';
    const failed = DIAL_FAILED.has(status);
    await calls.update(form.CallSid, { dialStatus: status }).catch((err: Error) => {
      logger.warn({ callSid: form.CallSid, err }, 'could not record the dial result');
    });
    // Twilio also comes here when the caller hangs up during the <Dial>: the call itself is then final.
    if (isFinalCallStatus(form.CallStatus)) {
      await deps.onCallEnded(form.CallSid).catch((err: Error) => logger.warn({ callSid: form.CallSid, err }, 'could not let a warm transfer go'));
    }
    if (failed) {
      logger.warn({ callSid: form.CallSid, dialStatus: status }, 'sip leg to retell did not connect: answering the fallback');
      metrics.fallbacks.inc({ reason: 'sip_dial_failed' });
    }
    sendTwiml(res, failed ? answerer.fallback('retell_error').twiml : hangupTwiml());
  });

  // Twilio asks what to do with a SIP REFER from the far end of the <Dial> (Retell's own transfer, should
  // it ever send one). The target is checked like any agent's transfer: an allowed one is dialed, and
  // anything else gets the same answer as a call the agent cannot take (FALLBACK_NUMBER or the message),
  // so a refused REFER never dials where it asked and never leaves the caller in silence.
  router.post('/twilio/refer', ...verified, async (req, res) => {
    const form = accountForm(config, referForm, req);
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
    if (deps.events) {
      // Twilio dials the destination on this answer: for a cold transfer, that is the redirect performed.
      const transfer = { call_sid: form.CallSid, kind: 'cold' as const, destination: destination.label, to: destination.target };
      const key = `refer:${form.CallSid}:${destination.target}`;
      await deps.events.emit('transfer.started', transfer, { key });
      await deps.events.emit('transfer.completed', transfer, { key });
    }
    const callerId = [form.From, form.To].find((n) => n !== undefined && isE164(n));
    sendTwiml(res, transferTwiml({ target: destination.target, targetKind: destination.kind, callerId, message: undefined }));
  });

  return router;
}
