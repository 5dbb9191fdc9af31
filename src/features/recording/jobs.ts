/**
 * The jobs of the agent's pause and resume, on the call-actions queue. The kind names the BullMQ job and
 * starts its id (`pause_recording-CA…-2`), so it is part of what a deployment keeps across versions.
 */
import type { RecordingWanted } from '../../calls/record';

export interface RecordingControlJob {
  kind: 'pause_recording' | 'resume_recording';
  callSid: string;
  /** Retell's call id: the agent is told there if the pause or resume fails. */
  callId: string | undefined;
  want: RecordingWanted;
}
