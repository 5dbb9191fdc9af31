/**
 * The kinds of value settings of several concerns share: numbers, URLs, lists, JSON, credentials, and
 * what counts as a placeholder never replaced with the real thing.
 */
import { z } from 'zod';
import { E164, isXmlSafe } from '../formats';

export const e164 = z.string().regex(E164, 'must be an E.164 number such as +14155550100');

/** Parses a JSON-valued variable, then validates the parsed value with `schema`. */
export function jsonObject<T extends z.ZodType>(schema: T, example: string) {
  return z
    .string()
    .default('{}')
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw === '' ? '{}' : raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be a JSON object, e.g. ${example}` });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const allowlistEntry = z
  .string()
  .refine(
    (s) => (s.endsWith('*') ? /^\+[1-9]\d{0,14}\*$/ : E164).test(s),
    'entries must be E.164 numbers, or prefixes ending in * such as +1415*',
  );

/** A comma-separated list of allow-list entries (TRANSFER_ALLOWLIST, OUTBOUND_ALLOWLIST). */
export const allowlist = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
  .pipe(z.array(allowlistEntry));

export const trueFalse = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');

export const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .transform((s) => s.replace(/\/+$/, ''));

/**
 * A public origin: scheme, host and port only. Twilio signs the full URL it calls, and the bridge
 * appends its own paths (`/twilio/voice`), so a path or query here breaks every signature check.
 */
export const origin = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .superRefine((s, ctx) => {
    const url = new URL(s);
    const extra = [url.pathname !== '/' && `the path ${url.pathname}`, url.search && `the query ${url.search}`, url.hash && `the fragment ${url.hash}`].filter(Boolean);
    if (extra.length) ctx.addIssue({ code: 'custom', message: `must be the origin only, without ${extra.join(' and ')}: use ${url.origin}` });
  })
  // Credentials stay: Twilio supports basic auth in webhook URLs.
  .transform((s) => {
    const url = new URL(s);
    const credentials = url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
    return `${url.protocol}//${credentials}${url.host}`;
  });

export const port = z.coerce.number({ error: 'must be a port number' }).int().min(1).max(65535);

/** Values from .env.example and the like that were never replaced with the real thing. */
export const PLACEHOLDER = /x{8,}|^your[_-]|^<.*>$|^(changeme|change-me|placeholder|todo|secret|password)$/i;

/** Whether `value` is still a placeholder such as those in .env.example. */
export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

/**
 * Whether `host` is a name reserved for documentation and testing, which no one can reach: example.com,
 * example.net, example.org and their subdomains (RFC 2606), and the .example, .test and .invalid
 * top-level domains (RFC 2606, RFC 6761). `.localhost` is left out: it is this machine, a real place.
 */
export function isReservedExampleHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return /(^|\.)example\.(com|net|org)$/.test(name) || /\.(example|test|invalid)$/.test(name) || ['example', 'test', 'invalid'].includes(name);
}

/** A credential: at least `min` characters, not a placeholder. */
export function credential(min: number, what: string) {
  return notPlaceholder(z.string({ error: 'is required' }).min(min, `looks too short to be ${what}`));
}

/** What {@link wholeNumber} checks. */
export interface WholeNumberOptions {
  /** What it counts, for the message on anything else: "must be a whole number of <unit>". @defaultValue none: "must be a whole number" */
  unit?: string;
  min: number;
  /** @defaultValue no upper bound */
  max?: number;
  default: number;
  /** The message below `min`. @defaultValue the message on anything else (`unit`'s) */
  minMessage?: string;
  /** The message above `max`. @defaultValue the message on anything else (`unit`'s) */
  maxMessage?: string;
}

/** A whole number from `min` to `max`, `default` when unset. */
export function wholeNumber(o: WholeNumberOptions) {
  return countOf(o.unit ? `must be a whole number of ${o.unit}` : 'must be a whole number', o);
}

/** A whole number of milliseconds from `min` to `max`, `default` when unset. */
export function milliseconds(o: Omit<WholeNumberOptions, 'unit'>) {
  return countOf('must be a number of milliseconds', o);
}

function countOf(error: string, o: Omit<WholeNumberOptions, 'unit'>) {
  const atLeast = z.coerce.number({ error }).int().min(o.min, o.minMessage);
  return (o.max === undefined ? atLeast : atLeast.max(o.max, o.maxMessage)).default(o.default);
}

/** Why a text said on a call is refused: TwiML carries it, and XML cannot carry every character. */
export const NOT_XML_SAFE = 'must not contain control characters or other characters XML cannot carry';

/** A text said to a caller (TwiML <Say>): at most `max` characters, none XML cannot carry. */
export function spokenText(max: number) {
  return z.string().max(max, `must be at most ${max} characters`).refine(isXmlSafe, NOT_XML_SAFE);
}

/** An optional {@link spokenText}, trimmed; blank counts as unset. */
export function optionalSpokenText(max: number) {
  return spokenText(max)
    .optional()
    .transform((s) => (s?.trim() ? s.trim() : undefined));
}

/** Refuses a value still a placeholder such as those in .env.example; `what` names what to put instead. */
export function notPlaceholder<T extends z.ZodString>(schema: T, what = 'the real value') {
  return schema.refine((s) => !PLACEHOLDER.test(s), `is still a placeholder (as in .env.example): put ${what} here`);
}
