/**
 * Recording in the user's own Twilio account: whether a call is recorded (RECORDING, or the call's own
 * choice), the disclosure or consent question before the agent answers, the `<Start><Recording>` that
 * records the whole call across transfers, Twilio's recording status (→ `recording.completed`), and the
 * agent's `pause_recording` / `resume_recording`, performed once by the worker.
 */
export { recordingFunctions } from './functions';
export { type RecordingControlJob } from './jobs';
export { consentFrom, DEFAULT_CONSENT_QUESTION, planRecording, type RecordingChoice, type RecordingPlan } from './plan';
export { failedControlContext, RecordingControlProcessor } from './processor';
export { recordingRoutes } from './routes';
export { afterConsentTwiml, consentGatherXml, consentUrl, RECORDING_PATHS, recordedAnswerTwiml, recordingStatusUrl, startRecordingXml } from './twiml';
