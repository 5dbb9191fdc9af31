import { Router } from 'express';
import { z } from 'zod';
import { orStoreUnavailable } from '../../calls/errors';
import { findOrAdoptCall } from '../../calls/find-call';
import { actionOf, warmTransferOf } from '../../calls/record';
import type { CallRepository } from '../../calls/repository';
import type { ByteBudget } from '../../http/byte-budget';
import { parseOr400 } from '../../http/validate';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { retellSigned } from '../../retell/webhook';
import { isFinalCallStatus } from '../../twilio/call-status';
import { parseTimestamp, statusForm } from '../../twilio/forms';
import { accountForm, twilioVerified } from '../../twilio/webhook';
import type { Config } from '../../config';
import { emitCallEnded, NO_EVENTS, trimRetellCall, type EventSink } from '../events';

const event = z.looseObject({
  event: z.string({ error: 'event is required' }).max(64),
  call: z.looseObject({
    call_id: z.string({ error: 'call.call_id is required' }).min(1).max(128),
    metadata: z.unknown().optional(),
    from_number: z.string().max(256).optional(),
    to_number: z.string().max(256).optional(),
    direction: z.string().max(32).optional(),
    // Milliseconds since the epoch, within what a Date can hold, so a wild value is a 400, not a crash.
    start_timestamp: z.number().int().min(0).max(8.64e15).optional(),
    end_timestamp: z.number().int().min(0).max(8.64e15).optional(),
    duration_ms: z.number().int().min(0).max(8.64e15).optional(),
    disconnection_reason: z.string().max(128).optional(),
    call_analysis: z
      .looseObject({
        call_summary: z.string().optional(),
        user_sentiment: z.string().max(64).optional(),
        call_successful: z.boolean().optional(),
      })
      .optional(),
  }),
});

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * Largest call event read. call_ended and call_analyzed carry the whole transcript three ways (text,
 * with word timings, with tool calls): about 1 MiB for an hour's call, under 3 MiB for the longest
 * call Retell allows (2 h).
 */
export const WEBHOOK_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

export interface LifecycleRoutesDeps {
  config: Pick<Config, 'publicUrl' | 'twilio' | 'retell'>;
  /** Told when a call ends, so whatever still waits on it (a person being rung) is let go. */
  onCallEnded: (callSid: string) => Promise<void>;
  /** Bodies read before their signature is checked, shared with the other unauthenticated routes. */
  budget: ByteBudget;
  calls: CallRepository;
  /** Told `call.ended` and `call.analyzed`. @defaultValue none */
  events?: EventSink;
  logger: Logger;
  metrics: Metrics;
}

/**
 * A call's progress, for every call whatever its direction: Twilio's status callback (answered, ended) and
 * Retell's call events (the agent's leg started, ended, analysed), each moving the call record forward only.
 *
 * Retell's call events. Answered 204 at once for anything signed and well-formed, including events
 * the bridge does not use and calls it does not know: a non-2xx only makes Retell send it again.
 */
export function lifecycleRoutes(deps: LifecycleRoutesDeps): Router {
  const { calls, logger, metrics } = deps;
  const events = deps.events ?? NO_EVENTS;
  const router = Router();
  const signed = retellSigned({
    apiKey: deps.config.retell.apiKey,
    limitBytes: WEBHOOK_BODY_LIMIT_BYTES,
    budget: deps.budget,
    onRefused: () => metrics.signatureRefusals.inc({ source: 'retell' }),
  });

  // The number's status callback: records when the call was answered and how it ended.
  const verified = twilioVerified(deps.config, metrics, deps.budget);
  router.post('/twilio/status', ...verified, async (req, res) => {
    const form = accountForm(deps.config, statusForm, req);
    const status = form.CallStatus;
    const result = await orStoreUnavailable(() => calls.twilioStatus(form.CallSid, status, parseTimestamp(form.Timestamp), form.CallDuration));
    if (isFinalCallStatus(status)) {
      await orStoreUnavailable(() => deps.onCallEnded(form.CallSid));
      if (result !== 'unknown') await emitCallEnded(events, calls, { callSid: form.CallSid, twilioStatus: status, duration: form.CallDuration });
    }
    logger.info({ callSid: form.CallSid, callStatus: status, result }, 'twilio call status');
    res.status(204).end();
  });

  router.post('/retell/webhook', signed, async (req, res) => {
    const { event: name, call } = parseOr400(event, req.body);
    if (name !== 'call_started' && name !== 'call_ended' && name !== 'call_analyzed') {
      res.status(204).end();
      return;
    }
    const record = await orStoreUnavailable(() => findOrAdoptCall(calls, call, deps.config.twilio.accountSid));
    const log = logger.child({ callId: call.call_id, callSid: record?.callSid, event: name });
    if (!record) {
      log.info('retell event for a call the bridge does not know: ignored');
      res.status(204).end();
      return;
    }
    // After a transfer the agent's leg ends but the phone call goes on with a person; the record may not
    // say `transferred` yet when the agent's leg ends the instant Twilio performs the redirect.
    const action = actionOf(record);
    const handedOff =
      record.state === 'transferred' ||
      (action?.kind === 'transfer' && action.status !== 'failed') ||
      // A warm transfer hands off once the person accepted: the caller is being moved to the conference.
      (action?.kind === 'warm_transfer' && warmTransferOf(record)?.status === 'transfer_accepted');
    const result = await orStoreUnavailable(() => {
      if (name === 'call_started') return calls.retellEvent(record.callSid, { event: name, startedAt: iso(call.start_timestamp) }, handedOff);
      if (name === 'call_ended') {
        return calls.retellEvent(
          record.callSid,
          { event: name, endedAt: iso(call.end_timestamp), disconnectionReason: call.disconnection_reason, durationMs: call.duration_ms },
          handedOff,
        );
      }
      const analysis = call.call_analysis;
      return calls.retellEvent(
        record.callSid,
        { event: name, summary: analysis?.call_summary, userSentiment: analysis?.user_sentiment, successful: analysis?.call_successful },
        handedOff,
      );
    });
    log.info({ result }, 'retell call event');
    if (name === 'call_analyzed' && (!events.wants || events.wants('call.analyzed'))) {
      // Retell's object whole, joined with the Twilio call; cut down when it is MiBs of transcript.
      const { retell, trimmed } = trimRetellCall(call);
      if (trimmed) log.info({ trimmed }, 'call.analyzed: Retell\'s call object trimmed to fit');
      await events.emit('call.analyzed', { call_sid: record.callSid, retell_call_id: call.call_id, retell, ...(trimmed ? { retell_trimmed: trimmed } : {}) }, { key: record.callSid });
    }
    res.status(204).end();
  });
  return router;
}
