import type { Config, RecordingChannels } from '../../config';
import type { RecordingConsent } from '../../calls/record';

/** How one call is recorded, decided when it is answered. */
export interface RecordingPlan {
  channels: RecordingChannels;
  /** `announce`: the disclosure (if any), then record; `ask`: record only if the caller allows it. */
  consent: Config['recording']['consent'];
  /** Said first (announce), or the question asked (ask). */
  disclosure: string | undefined;
}

/** What the lookup hook's answer, or an outbound call's request, says about recording one call. */
export interface RecordingChoice {
  enabled: boolean;
  /** Said instead of RECORDING_DISCLOSURE. */
  disclosure?: string;
}

/**
 * Whether and how a call is recorded: RECORDING, unless the call's own choice (the lookup hook's answer,
 * the outbound request's `record`) says otherwise. A call asked to be recorded while RECORDING is off is
 * recorded in dual, which keeps who said what apart.
 */
export function planRecording(config: Config['recording'], choice: RecordingChoice | undefined): RecordingPlan | undefined {
  if (choice?.enabled === false) return undefined;
  if (!choice && config.mode === 'off') return undefined;
  return {
    channels: config.mode === 'off' ? 'dual' : config.mode,
    consent: config.consent,
    disclosure: choice?.disclosure ?? config.disclosure,
  };
}

/** Asked when RECORDING_CONSENT=ask and no disclosure is set. */
export const DEFAULT_CONSENT_QUESTION = 'This call may be recorded. To allow recording, press 1 or say yes.';

const YES = new Set(['yes', 'yeah', 'yep', 'yup', 'sure', 'ok', 'okay', 'agree', 'allow', 'accept']);
const NO = new Set(['no', 'not', 'nope', "don't", 'dont', 'never', 'disagree', 'refuse', 'decline']);

/**
 * The caller's answer to the consent question, from Twilio's `<Gather>` result: pressing 1, or speech
 * whose first word is a yes (and that holds no no: "yes, but don't record" is not consent), allows
 * recording; anything else refuses it; nothing at all (the gather timed out) is `no_answer`.
 */
export function consentFrom(digits: string | undefined, speech: string | undefined): Exclude<RecordingConsent, 'announced' | 'asked'> {
  if (digits) return digits === '1' ? 'given' : 'refused';
  const words = (speech ?? '').toLowerCase().match(/[a-z']+/g) ?? [];
  if (words.length === 0) return 'no_answer';
  return YES.has(words[0]!) && !words.some((w) => NO.has(w)) ? 'given' : 'refused';
}
