/**
 * The formats the bridge shares with Twilio and Retell: phone numbers, Twilio identifiers, and the
 * metadata contract that ties a Retell call back to its Twilio call. One definition each, used by the
 * configuration, the routes, the services and the tools alike.
 */

/** An E.164 number: +, a country code that does not start with 0, at most 15 digits in all. */
export const E164 = /^\+[1-9]\d{6,14}$/;

/** A Twilio Call SID: CA and 32 hex digits. */
export const CALL_SID = /^CA[0-9a-fA-F]{32}$/;

/** A Twilio Account SID: AC and 32 hex digits. */
export const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;

export const isE164 = (value: string): boolean => E164.test(value);

/** Which way a call goes, from the point of view of the business's Twilio number. */
export type CallDirection = 'inbound' | 'outbound';

/**
 * What the bridge puts in a Retell call's `metadata` at registration. Retell echoes `metadata` on every
 * function call and webhook of the call, so a later request can find the live Twilio call even when the
 * bridge has no record of the Retell call id.
 */
export interface RetellCallMetadata {
  twilio_call_sid: string;
  twilio_account_sid: string;
}

export function encodeRetellMetadata(callSid: string, accountSid: string): RetellCallMetadata {
  return { twilio_call_sid: callSid, twilio_account_sid: accountSid };
}

/**
 * The Twilio call named in a Retell call's `metadata`, or null when there is none, it is not a CallSid,
 * or it belongs to another Twilio account than `accountSid`.
 */
export function decodeRetellMetadata(metadata: unknown, accountSid: string): { callSid: string } | null {
  if (!metadata || typeof metadata !== 'object') return null;
  const meta = metadata as Record<string, unknown>;
  const callSid = meta.twilio_call_sid;
  if (typeof callSid !== 'string' || !CALL_SID.test(callSid)) return null;
  if (meta.twilio_account_sid !== undefined && meta.twilio_account_sid !== accountSid) return null;
  return { callSid };
}

/** Characters XML 1.0 cannot carry: control characters other than tab, LF and CR, lone surrogates, U+FFFE/U+FFFF. */
const XML_INVALID = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export const isXmlSafe = (text: string): boolean => !new RegExp(XML_INVALID.source, 'u').test(text);

/**
 * Text for a `<Say>`: characters TwiML cannot carry removed, white space at the ends trimmed, and
 * undefined when nothing is left.
 */
export function speakable(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const clean = text.replace(XML_INVALID, '').trim();
  return clean === '' ? undefined : clean;
}

/**
 * The deepest nesting of objects and arrays accepted in JSON from outside the bridge (request bodies,
 * the lookup hook's answer), the outermost value being level 1. JSON.parse reads any depth without
 * recursing, but JSON.stringify, zod and anything else that walks a value recurse, and a value some
 * thousands of levels deep (a few tens of KB of brackets) overflows the stack. What the bridge is sent
 * is shallow: Retell's call events, transcripts with word timings included, nest under 10 levels.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `value` nests objects and arrays more than `limit` levels deep, measured without recursion so
 * that any depth is safe to measure. When it does: the top-level key (or index) under which it does,
 * cut to 40 characters, or undefined when `value` itself is the culprit.
 */
export function nestedDeeperThan(value: unknown, limit: number): { under: string | undefined } | null {
  const stack: Array<[object, number, string | undefined]> = [];
  if (value && typeof value === 'object') stack.push([value, 1, undefined]);
  while (stack.length) {
    const [v, depth, under] = stack.pop()!;
    if (depth > limit) return { under: under?.slice(0, 40) };
    for (const [key, child] of Object.entries(v)) {
      if (child && typeof child === 'object') stack.push([child as object, depth + 1, under ?? key]);
    }
  }
  return null;
}

/** The reason given for JSON nested past `limit`, naming where (see nestedDeeperThan). */
export function tooDeepReason(what: string, limit: number, under: string | undefined): string {
  return `${what} nests more than ${limit} levels deep${under === undefined ? '' : ` (in ${under})`}`;
}

// --- Text messages ------------------------------------------------------------------------------------

/**
 * GSM 03.38's default alphabet (one septet each) and its extension table (an escape and a septet: two).
 * A text made only of these is sent in GSM-7; any other character makes the whole text UCS-2.
 */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

/** How a text is encoded and how many SMS segments it takes. */
export interface SmsSegments {
  encoding: 'GSM-7' | 'UCS-2';
  segments: number;
}

/**
 * The segments a text takes, as a handset or Twilio splits it: GSM-7 holds 160 septets in a single
 * segment and 153 in each of several (the rest is the concatenation header); UCS-2 holds 70 UTF-16 code
 * units alone, 67 each in several. A segment never splits an extension character from its escape, nor a
 * surrogate pair, so a full segment may hold one less. An empty text is one segment.
 */
export function smsSegments(text: string): SmsSegments {
  const chars = [...text];
  const gsm = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c));
  const sizes = gsm ? chars.map((c) => (GSM7_EXTENSION.has(c) ? 2 : 1)) : chars.map((c) => c.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  if (total <= single) return { encoding: gsm ? 'GSM-7' : 'UCS-2', segments: 1 };
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > multi) {
      segments += 1;
      used = 0;
    }
    used += size;
  }
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', segments };
}

/** The most segments a text the bridge sends may take (a longer one is refused, not split further). */
export const MAX_SMS_SEGMENTS = 10;

/**
 * Characters a text cannot carry: C0 and C1 control characters (`allowNewline` keeps line feeds, which a
 * template may hold), lone surrogates, and the non-characters U+FFFE and U+FFFF. Twilio refuses some,
 * handsets show others as boxes, and none belongs in a text a caller receives.
 */
export function smsUnsafe(text: string, allowNewline = false): boolean {
  const unsafe = allowNewline ? SMS_UNSAFE_KEEP_LF : SMS_UNSAFE;
  return unsafe.test(text);
}
const SURROGATES = '[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';
const SMS_UNSAFE = new RegExp(`[\\u0000-\\u001F\\u007F-\\u009F\\uFFFE\\uFFFF]|${SURROGATES}`);
const SMS_UNSAFE_KEEP_LF = new RegExp(`[\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\uFFFE\\uFFFF]|${SURROGATES}`);

/**
 * Invisible formatting characters a text is cleaned of: zero-width characters and joiners, bidirectional
 * embeddings, overrides and isolates (which can make a link read as another), word joiners and the byte
 * order mark. They change how a text looks, never what it says.
 */
const SMS_INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/** A text's visible content: Unicode NFC, invisible formatting characters removed, white space at the ends trimmed. */
export function cleanSmsText(text: string): string {
  return text.normalize('NFC').replace(SMS_INVISIBLE, '').trim();
}
