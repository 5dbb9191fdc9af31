import type { TestBridge } from './bridge';
import { PUBLIC_URL } from './bridge';
import { postSigned, voiceParams } from './twilio-signing';

export { waitFor } from './wait';

/** Plays an inbound call's voice webhook through the bridge and makes the call live on the fake Twilio API. */
export async function liveCall(bridge: TestBridge, overrides: Record<string, string> = {}): Promise<{ callSid: string; callId: string }> {
  const params = voiceParams(overrides);
  const res = await postSigned(bridge.url, PUBLIC_URL, '/twilio/voice', params);
  if (res.status !== 200) throw new Error(`voice webhook answered ${res.status}`);
  const registration = bridge.retell.registrations.find((r) => (r.body.metadata as { twilio_call_sid?: string }).twilio_call_sid === params.CallSid);
  if (!registration) throw new Error('call was not registered');
  bridge.twilio.addCall(params.CallSid!, params.From, params.To);
  if (params.CallToken) bridge.twilio.callTokens.set(params.CallToken, params.From!);
  // Twilio runs the answer: the <Dial><Sip> to Retell becomes the call's child leg.
  bridge.twilio.playTwiml(params.CallSid!, await res.text());
  return { callSid: params.CallSid!, callId: registration.callId };
}
