import type { RecordingChannels } from '../../config';
import { twimlDocument, xmlAttr, xmlText } from '../../twilio/twiml';
import { DEFAULT_CONSENT_QUESTION, type RecordingPlan } from './plan';

/** Where Twilio reaches the bridge about recording: the caller's answer to the consent question, and the recording's status. */
export const RECORDING_PATHS = {
  consent: '/twilio/recording/consent',
  status: '/twilio/recording/status',
} as const;

export const recordingStatusUrl = (publicUrl: string) => `${publicUrl}${RECORDING_PATHS.status}`;

/** How long the caller has to answer the consent question once it has been asked, in seconds. */
export const CONSENT_TIMEOUT_S = 5;

/**
 * `<Start><Recording>`: Twilio records the call itself from here to its end, whatever TwiML the call
 * runs next. The recording belongs to the call, not to a verb, so the redirect of a cold or warm
 * transfer (which ends the `<Dial>` to Retell) does not end it: the person who takes the call is
 * recorded too. `track="both"` with dual channels puts what Twilio hears from the caller (the inbound
 * track) on channel 1, and what the caller hears (the agent, then the person) on channel 2. The status
 * callback reports its start (with its RE… sid, for pausing) and its end.
 *
 * Written as a string, like the `<Dial>` it precedes, because it is part of every recorded call's
 * answer; a test holds it byte-identical to `VoiceResponse().start().recording(...)`.
 */
export function startRecordingXml(channels: RecordingChannels, statusUrl: string): string {
  return (
    `<Start><Recording channels="${channels}" track="both" trim="do-not-trim" recordingStatusCallback="${xmlAttr(statusUrl)}" ` +
    'recordingStatusCallbackMethod="POST" recordingStatusCallbackEvent="in-progress completed absent"/></Start>'
  );
}

/**
 * The consent question: one key or a short spoken answer. `actionOnEmptyResult` brings a caller who
 * says nothing to the action URL too, so the call goes on (unrecorded) instead of ending with the TwiML.
 */
export function consentGatherXml(question: string, actionUrl: string): string {
  return (
    `<Gather input="dtmf speech" numDigits="1" timeout="${CONSENT_TIMEOUT_S}" speechTimeout="auto" hints="yes, no" action="${xmlAttr(actionUrl)}" ` +
    `method="POST" actionOnEmptyResult="true"><Say>${xmlText(question)}</Say></Gather>`
  );
}

/** The consent route's URL for a call: it carries the Retell call and the channels, so the answer needs nothing from Redis. */
export function consentUrl(publicUrl: string, callId: string, channels: RecordingChannels): string {
  return `${publicUrl}${RECORDING_PATHS.consent}?c=${encodeURIComponent(callId)}&r=${channels}`;
}

/**
 * The answer of a recorded call, `dial` being its `<Dial>` to Retell. `announce`: the recording starts,
 * then the disclosure is said (so the disclosure is on the recording), then the agent answers. `ask`:
 * only the question; the consent route answers the rest, with or without the recording.
 */
export function recordedAnswerTwiml(plan: RecordingPlan, dial: string, urls: { statusUrl: string; consentUrl: string }): string {
  if (plan.consent === 'ask') return twimlDocument(consentGatherXml(plan.disclosure ?? DEFAULT_CONSENT_QUESTION, urls.consentUrl));
  const disclosure = plan.disclosure ? `<Say>${xmlText(plan.disclosure)}</Say>` : '';
  return twimlDocument(startRecordingXml(plan.channels, urls.statusUrl) + disclosure + dial);
}

/** What the consent route answers: the recording started if the caller allowed it, then the agent. */
export function afterConsentTwiml(recorded: boolean, channels: RecordingChannels, dial: string, statusUrl: string): string {
  return twimlDocument((recorded ? startRecordingXml(channels, statusUrl) : '') + dial);
}
