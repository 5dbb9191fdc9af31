import { twiml } from 'twilio';

const { VoiceResponse } = twiml;

/** TwiML built with twilio's VoiceResponse: `build` adds the verbs. */
export function voiceTwiml(build: (response: InstanceType<typeof VoiceResponse>) => void): string {
  const response = new VoiceResponse();
  build(response);
  return response.toString();
}

export interface FallbackOptions {
  /** E.164 number to dial when the agent cannot take the call. */
  number: string | undefined;
  /** Spoken, then the call hangs up, when there is no fallback number. */
  message: string;
}

// XML escaping as twilio's VoiceResponse (xmlbuilder) does it, so the strings below match its output.
export const xmlAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/\t/g, '&#x9;').replace(/\n/g, '&#xA;').replace(/\r/g, '&#xD;');
export const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');

/**
 * `<Dial><Sip>` to the registered Retell call.
 *
 * `answerOnBridge`: the caller keeps hearing ringback, and the call is not answered (nor billed as
 * answered) until Retell's SIP leg picks up, so a slow or failed SIP setup never plays silence on an
 * answered line. `action` brings Twilio back to us when the SIP leg ends, so a failed INVITE (expired
 * registration, Retell at capacity) turns into the fallback instead of a hang-up. `referUrl`: should
 * Retell ever answer a transfer with a SIP REFER, Twilio asks us what to do (error 13802 without it), and
 * the destination is checked like any transfer's.
 *
 * Built as a string because it is written for every new call; a test holds it byte-identical to
 * `VoiceResponse().dial(...).sip(...)`, which costs several times as much CPU.
 */
export function dialRetellTwiml(callId: string, sipHost: string, transport: string, actionUrl: string, referUrl: string): string {
  return twimlDocument(dialRetellVerb(callId, sipHost, transport, actionUrl, referUrl));
}

/** Where Twilio comes back when the SIP leg to Retell ends, and asks about a SIP REFER from it. */
export const RETELL_DIAL_PATHS = { action: '/twilio/dial-action', refer: '/twilio/refer' } as const;

/** The `<Dial><Sip>` to a registered Retell call, with the bridge's action and refer URLs under `publicUrl`. */
export function retellDialVerb(opts: { publicUrl: string; sipHost: string; sipTransport: string }, callId: string): string {
  return dialRetellVerb(callId, opts.sipHost, opts.sipTransport, `${opts.publicUrl}${RETELL_DIAL_PATHS.action}`, `${opts.publicUrl}${RETELL_DIAL_PATHS.refer}`);
}

/** The `<Dial><Sip>` of dialRetellTwiml on its own, for TwiML that says or starts something before it. */
export function dialRetellVerb(callId: string, sipHost: string, transport: string, actionUrl: string, referUrl: string): string {
  return (
    `<Dial answerOnBridge="true" action="${xmlAttr(actionUrl)}" method="POST" referUrl="${xmlAttr(referUrl)}" referMethod="POST">` +
    `<Sip>${xmlText(`sip:${callId}@${sipHost};transport=${transport}`)}</Sip></Dial>`
  );
}

/** A TwiML document around verbs already written, as VoiceResponse's toString writes it. */
export function twimlDocument(verbs: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${verbs}</Response>`;
}

/** What the caller gets when the agent cannot take the call: a human, or an apology. */
export function fallbackTwiml(fallback: FallbackOptions): string {
  const { number } = fallback;
  if (!number) return sayAndHangupTwiml(fallback.message);
  return voiceTwiml((response) => response.dial({ answerOnBridge: true }, number));
}

export function hangupTwiml(): string {
  return voiceTwiml((response) => response.hangup());
}

export interface TransferTwimlOptions {
  target: string;
  targetKind: 'number' | 'sip';
  callerId: string | undefined;
  message: string | undefined;
}

/**
 * What the live call is redirected to for a cold transfer. Replacing the call's TwiML ends the
 * `<Dial><Sip>` to Retell, so the agent drops and the caller hears the message, then ringback.
 */
export function transferTwiml(opts: TransferTwimlOptions): string {
  return voiceTwiml((response) => {
    if (opts.message) response.say(opts.message);
    const dial = response.dial(opts.callerId ? { callerId: opts.callerId } : {});
    if (opts.targetKind === 'sip') dial.sip(opts.target);
    else dial.number(opts.target);
  });
}

/** Says goodbye, then hangs up: used for an end-call with a parting message. */
export function sayAndHangupTwiml(message: string): string {
  return voiceTwiml((response) => {
    response.say(message);
    response.hangup();
  });
}

/**
 * Refuses the call without answering it: the caller hears Twilio's standard "not in service"
 * response, the call is not billed as answered, and no agent is engaged.
 */
export function rejectTwiml(): string {
  return voiceTwiml((response) => response.reject());
}
