import { type Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { orStoreUnavailable } from '../../calls/errors';
import { isFinalCallStatus } from '../../twilio/call-status';
import { OUTBOUND_ID } from './record';
import { CALL_SID } from '../../formats';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { ATTR_CALL_SID, withServerSpan } from '../../observability/tracing';
import { countAnswer, type CallAnswerer } from '../inbound';
import type { OutboundCallbacks } from './callbacks';
import { OUTBOUND_PATHS } from './twilio';
import { hangupTwiml } from '../../twilio/twiml';
import { readVoiceForm, type VoiceForm } from '../../twilio/voice-form';
import { parseTimestamp, statusForm } from '../../twilio/forms';
import { accountForm, amdRoute, checkAccount, queryId, sendTwiml, twilioRouter, type TwilioRoutesDeps } from '../../twilio/webhook';


export interface TwilioOutboundRoutesDeps extends TwilioRoutesDeps {
  answerer: CallAnswerer;
  callbacks: OutboundCallbacks;
  /** Told when a call ends, so whatever still waits on it (a person being rung) is let go. */
  onCallEnded: (callSid: string) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
}

/** The outbound id every callback URL carries (`?o=out_…`); it is covered by the signature. */
const outboundId = (req: Request) => queryId(req, 'o', OUTBOUND_ID, 'an outbound call id (out_ and 32 hex digits)');

/**
 * Twilio's requests about calls the bridge placed (POST /calls), each signed like any Twilio webhook:
 * the answer URL (registered through the same exactly-once claim as inbound calls), the status
 * callback, and the asynchronous AMD verdicts on a route of their own.
 */
export function twilioOutboundRoutes(deps: TwilioOutboundRoutesDeps): Router {
  const { config, answerer, callbacks, logger, metrics } = deps;
  const { router, verified } = twilioRouter(deps);

  const answerCall = async (form: VoiceForm, req: Request, res: Response) => {
    checkAccount(config, form.AccountSid);
    const id = outboundId(req);
    if (isFinalCallStatus(form.CallStatus)) {
      sendTwiml(res, hangupTwiml());
      return;
    }
    let answer;
    try {
      answer = await callbacks.answer(id, {
        callSid: form.CallSid,
        accountSid: form.AccountSid,
        from: form.From,
        to: form.To,
        twilioDirection: form.Direction ?? 'outbound-api',
        callerName: undefined,
      });
    } catch (err) {
      // The callee has picked up: whatever broke, they hear the fallback rather than Twilio's error message.
      logger.error({ callSid: form.CallSid, outboundId: id, err }, 'outbound answer failed unexpectedly: answering the fallback');
      answer = answerer.fallback('retell_error');
    }
    countAnswer(metrics, answer);
    sendTwiml(res, answer.twiml);
  };

  router.post(OUTBOUND_PATHS.answer, ...verified, (req, res) => {
    const form = readVoiceForm(req.body);
    return withServerSpan('twilio.outbound_answer', req, OUTBOUND_PATHS.answer, { [ATTR_CALL_SID]: form.CallSid }, () => answerCall(form, req, res));
  });

  router.post(OUTBOUND_PATHS.status, ...verified, async (req, res) => {
    const form = accountForm(config, statusForm, req);
    const id = outboundId(req);
    // The callee is the caller of a warm transfer the agent started: a person rung for them is let go.
    if (isFinalCallStatus(form.CallStatus)) await orStoreUnavailable(() => deps.onCallEnded(form.CallSid));
    await orStoreUnavailable(() =>
      callbacks.progress(id, {
        callSid: form.CallSid,
        callStatus: form.CallStatus,
        at: parseTimestamp(form.Timestamp),
        ...(form.CallDuration !== undefined ? { duration: form.CallDuration } : {}),
      }),
    );
    res.status(204).end();
  });

  amdRoute({ router, verified }, config, OUTBOUND_PATHS.amd, outboundId, (id, callSid, answeredBy) =>
    orStoreUnavailable(() => callbacks.machineDetection(id, callSid, answeredBy)),
  );

  return router;
}
