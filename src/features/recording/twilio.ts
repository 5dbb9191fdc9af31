import type { Twilio } from 'twilio';
import type { RecordingWanted } from '../../calls/record';
import { FINAL_CALL_STATUSES } from '../../twilio/call-status';

/** Twilio's name for "the recording now under way on this call", in place of its RE… sid. */
export const CURRENT_RECORDING = 'Twilio.CURRENT';

/**
 * Pauses or resumes the call's recording. A pause skips the paused audio (`PauseBehavior=skip`) rather
 * than keeping it as silence: the card number said meanwhile leaves no trace, not even its length.
 */
export async function setRecordingStatus(client: Twilio, callSid: string, recordingSid: string | undefined, want: RecordingWanted): Promise<void> {
  const recording = client.calls(callSid).recordings(recordingSid ?? CURRENT_RECORDING);
  await recording.update(want === 'paused' ? { status: 'paused', pauseBehavior: 'skip' } : { status: 'in-progress' });
}

/** Recordings that can still be paused or resumed. */
const LIVE = new Set(['in-progress', 'paused']);

/**
 * Where the call's recording stands, for a pause or resume whose answer never came: `performed` when the
 * live recording already has the wanted status, `gone` when the call is over (or has no live recording
 * left), `not_performed` otherwise. Throws when Twilio cannot tell.
 */
export async function lookAtRecording(client: Twilio, callSid: string, want: RecordingWanted): Promise<'performed' | 'not_performed' | 'gone'> {
  const recordings = await client.calls(callSid).recordings.list({ limit: 20, pageSize: 20 });
  const live = recordings.find((r) => LIVE.has(r.status));
  if (live) return live.status === want ? 'performed' : 'not_performed';
  const call = await client.calls(callSid).fetch();
  return FINAL_CALL_STATUSES.has(call.status) ? 'gone' : 'not_performed';
}
