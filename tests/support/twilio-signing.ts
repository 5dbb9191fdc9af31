import { getExpectedTwilioSignature } from 'twilio';

export const ACCOUNT_SID = 'AC' + '0123456789abcdef'.repeat(2);
export const AUTH_TOKEN = 'f'.repeat(8) + '0123456789abcdef'.repeat(1) + 'a'.repeat(8);

let sidCounter = 0;
/** A fresh, well-formed CallSid. */
export function newCallSid(): string {
  sidCounter += 1;
  const rand = Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0');
  return 'CA' + (rand + process.pid.toString(16).padStart(8, '0') + sidCounter.toString(16).padStart(16, '0')).slice(0, 32);
}

/** The parameters Twilio sends with an inbound call's voice webhook. */
export function voiceParams(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    CallSid: newCallSid(),
    CallStatus: 'ringing',
    Called: '+14155550100',
    Caller: '+14155550199',
    Direction: 'inbound',
    From: '+14155550199',
    FromCity: 'SAN FRANCISCO',
    FromCountry: 'US',
    FromState: 'CA',
    To: '+14155550100',
    ToCountry: 'US',
    ...overrides,
  };
}

/** Sends a form-encoded webhook signed the way Twilio signs it, for the URL Twilio was configured with. */
export async function postSigned(
  baseUrl: string,
  publicUrl: string,
  path: string,
  params: Record<string, string>,
  opts: { token?: string; tamper?: (p: Record<string, string>) => Record<string, string>; signature?: string | null; headers?: Record<string, string> } = {},
): Promise<Response> {
  const signature = getExpectedTwilioSignature(opts.token ?? AUTH_TOKEN, publicUrl + path, params);
  const sent = opts.tamper ? opts.tamper({ ...params }) : params;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers };
  if (opts.signature !== null) headers['x-twilio-signature'] = opts.signature ?? signature;
  return fetch(baseUrl + path, { method: 'POST', headers, body: new URLSearchParams(sent).toString() });
}
