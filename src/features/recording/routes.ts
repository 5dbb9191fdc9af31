import { type Router, type Request } from 'express';
import { z } from 'zod';
import { orStoreUnavailable } from '../../calls/errors';
import type { CallRepository } from '../../calls/repository';
import type { Config, RecordingChannels } from '../../config';
import { HttpError } from '../../http/errors';
import type { Logger } from '../../observability/logger';
import { callForm, single } from '../../twilio/forms';
import { retellDialVerb } from '../../twilio/twiml';
import { accountForm, sendTwiml, twilioRouter, type TwilioRoutesDeps } from '../../twilio/webhook';
import type { EventSink } from '../events';
import { consentFrom } from './plan';
import { afterConsentTwiml, RECORDING_PATHS, recordingStatusUrl } from './twiml';

const consentForm = callForm({
  Digits: z.string().max(32).optional(),
  SpeechResult: z.string().max(2000).optional(),
});

/** Twilio's recording status callback (Recording resource and `<Recording>` docs). */
const statusForm = callForm({
  RecordingSid: single('RecordingSid').regex(/^RE[0-9a-fA-F]{32}$/, 'RecordingSid must be RE followed by 32 hex digits'),
  RecordingStatus: single('RecordingStatus').max(32),
  RecordingUrl: z.string().max(2048).optional(),
  RecordingDuration: z.string().regex(/^\d{1,9}$/, 'RecordingDuration must be whole seconds').optional(),
  RecordingChannels: z.string().regex(/^[12]$/, 'RecordingChannels must be 1 or 2').optional(),
  ErrorCode: z.string().max(16).optional(),
});

/** The Retell call id (`c`) and channels (`r`) the consent URL carries; the signature covers them. */
function consentTarget(req: Request): { callId: string; channels: RecordingChannels } {
  const { c, r } = req.query;
  if (typeof c !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(c)) throw new HttpError(400, 'c must be the Retell call id the consent question was asked for');
  if (r !== 'mono' && r !== 'dual') throw new HttpError(400, 'r must be mono or dual');
  return { callId: c, channels: r };
}

export interface RecordingRoutesDeps extends TwilioRoutesDeps {
  config: Pick<Config, 'publicUrl' | 'twilio' | 'retell'>;
  calls: CallRepository;
  events: EventSink;
  logger: Logger;
}

/**
 * Twilio's requests about recording, each signed: the caller's answer to the consent question (the call
 * then goes on to the agent, recorded or not), and the recording's status (started, with the sid a pause
 * needs; completed, with where it is).
 */
export function recordingRoutes(deps: RecordingRoutesDeps): Router {
  const { config, calls, events, logger } = deps;
  const { router, verified } = twilioRouter(deps);

  // The caller is waiting on this answer: the Retell call and the channels come in the URL (signed), so
  // the TwiML needs nothing from Redis, and the answer only records the decision when Redis is there.
  router.post(RECORDING_PATHS.consent, ...verified, async (req, res) => {
    const form = accountForm(config, consentForm, req);
    const { callId, channels } = consentTarget(req);
    const heard = consentFrom(form.Digits, form.SpeechResult);
    const log = logger.child({ callSid: form.CallSid, callId });
    // The first answer stands: a repeat of this request gets the same TwiML as the first.
    const decision = (await calls.decideRecordingConsent(form.CallSid, heard).catch((err: Error) => {
      log.error({ err: err.message }, 'redis unavailable: the consent answer is not recorded');
      return undefined;
    })) ?? heard;
    const recorded = decision === 'given';
    if (decision === 'given' || decision === 'refused' || decision === 'no_answer') {
      await events.emit('recording.consent', { call_sid: form.CallSid, consent: decision }, { key: form.CallSid });
    }
    log.info({ consent: decision }, recorded ? 'the caller allowed recording: recording the call' : 'the caller did not allow recording: the call goes on unrecorded');
    sendTwiml(res, afterConsentTwiml(recorded, channels, retellDialVerb({ publicUrl: config.publicUrl, ...config.retell }, callId), recordingStatusUrl(config.publicUrl)));
  });

  router.post(RECORDING_PATHS.status, ...verified, async (req, res) => {
    const form = accountForm(config, statusForm, req);
    const log = logger.child({ callSid: form.CallSid, recordingSid: form.RecordingSid });
    const status = form.RecordingStatus;
    const kept = await orStoreUnavailable(() =>
      calls.recordingStatus(form.CallSid, {
        recordingSid: form.RecordingSid,
        status,
        url: form.RecordingUrl,
        durationS: form.RecordingDuration,
        channels: form.RecordingChannels,
      }),
    );
    if (status === 'completed') {
      await events.emit(
        'recording.completed',
        {
          call_sid: form.CallSid,
          recording_sid: form.RecordingSid,
          url: form.RecordingUrl ?? '',
          duration_s: Number(form.RecordingDuration ?? 0),
          channels: Number(form.RecordingChannels ?? 1),
        },
        { key: form.RecordingSid },
      );
    }
    log.info({ status, kept, errorCode: form.ErrorCode }, 'twilio recording status');
    res.status(204).end();
  });

  return router;
}
