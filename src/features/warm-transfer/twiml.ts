import { voiceTwiml } from '../../twilio/twiml';

/** The conference a warm transfer joins the caller and the person in, named after the transfer's job. */
export const warmTransferRoom = (transferId: string) => `x-${transferId}`;

export interface WarmTransferPromptOptions {
  /** The agent's summary for the person taking the call. */
  summary: string;
  acceptDigit: string;
  /** Where Twilio posts the key pressed (or nothing, after the timeout). */
  gatherUrl: string;
  /** Seconds to wait for the key once the summary has been said. */
  timeoutS: number;
}

/** How the accept key is named in the prompt: "1", "star", "pound". */
const keyName = (digit: string) => (digit === '*' ? 'star' : digit === '#' ? 'pound' : digit);

/**
 * What the person hears on picking up a warm transfer: the summary, then a request for the accept key.
 * `actionOnEmptyResult` brings a timeout to the gather URL too, so silence declines at once rather than
 * falling through to the end of the TwiML. `finishOnKey` is empty so that `#` can be the accept key.
 */
export function warmTransferPromptTwiml(opts: WarmTransferPromptOptions): string {
  return voiceTwiml((response) => {
    const gather = response.gather({
      numDigits: 1,
      timeout: opts.timeoutS,
      finishOnKey: '',
      action: opts.gatherUrl,
      method: 'POST',
      actionOnEmptyResult: true,
    });
    gather.say(`${opts.summary} Press ${keyName(opts.acceptDigit)} to take this call.`);
  });
}

/**
 * Joins a leg to the transfer's conference. The person's leg starts the conference on entering; both
 * legs end it on leaving, so neither is left alone in it. No beep: the caller is mid-conversation.
 */
export function joinConferenceTwiml(room: string, opts: { message?: string; starts: boolean }): string {
  return voiceTwiml((response) => {
    if (opts.message) response.say(opts.message);
    response.dial().conference({ startConferenceOnEnter: opts.starts, endConferenceOnExit: true, beep: 'false' }, room);
  });
}
