import type { Twilio } from 'twilio';
import type { SmsMessage } from './record';

/** Where Twilio reaches the bridge about texts: a text's status, and messages to the bridge's numbers. */
export const SMS_PATHS = {
  /** Each status of a text the agent sent; the URL carries the text's id as `?m=`. */
  status: '/twilio/sms/status',
  /** The numbers' messaging webhook: replies, and STOP. */
  incoming: '/twilio/sms',
} as const;

export const smsStatusUrl = (publicUrl: string, id: string) => `${publicUrl}${SMS_PATHS.status}?m=${encodeURIComponent(id)}`;

/** Sends the text through the Messages API: from its number, or through its Messaging Service. */
export async function sendText(client: Twilio, publicUrl: string, m: SmsMessage): Promise<{ sid: string }> {
  const message = await client.messages.create({
    to: m.to,
    body: m.body,
    ...(m.messagingServiceSid ? { messagingServiceSid: m.messagingServiceSid } : { from: m.from! }),
    statusCallback: smsStatusUrl(publicUrl, m.id),
  });
  return { sid: message.sid };
}

/**
 * Characters a Messaging Service's Smart Encoding may replace with GSM-7 ones before the body is stored,
 * so a text the look finds is compared as the bridge wrote it and as Twilio may show it.
 */
const SMART: ReadonlyArray<[RegExp, string]> = [
  [/[\u2018\u2019\u201A\u2032]/g, "'"],
  [/[\u201C\u201D\u201E\u2033]/g, '"'],
  [/[\u2010-\u2015\u2212]/g, '-'],
  [/\u2026/g, '...'],
  [/[\u00A0\u2000-\u200A\u202F\u205F\u3000]/g, ' '],
];
const smartEncoded = (s: string) => SMART.reduce((text, [from, to]) => text.replace(from, to), s);

/** Twilio's times have whole seconds, and its clock is not ours. */
const CLOCK_SLACK_MS = 5000;

/**
 * Whether a text sent at or after `since` whose answer never came was created at Twilio. The Messages
 * API takes no idempotency key, so the look lists the messages to the number (from the same sender)
 * and matches the body: the same text to the same person from the same sender in that window is this
 * one. Returns its SID, or undefined. Throws when Twilio cannot tell.
 */
export async function findText(client: Twilio, m: SmsMessage, since: Date): Promise<string | undefined> {
  const earliest = since.getTime() - CLOCK_SLACK_MS;
  const listed = await client.messages.list({ to: m.to, ...(m.from && !m.messagingServiceSid ? { from: m.from } : {}), limit: 50, pageSize: 50 });
  const body = smartEncoded(m.body);
  const found = listed.find(
    (x) =>
      (x.dateCreated?.getTime() ?? 0) >= earliest &&
      (m.messagingServiceSid ? x.messagingServiceSid === m.messagingServiceSid : x.from === m.from) &&
      smartEncoded(x.body ?? '') === body,
  );
  return found?.sid;
}
