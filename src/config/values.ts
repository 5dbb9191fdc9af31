/**
 * The kinds of value settings of several concerns share: numbers, URLs, lists, JSON, credentials, and
 * what counts as a placeholder never replaced with the real thing.
 */
import { z } from 'zod';
import { E164 } from '../formats';

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
  return z
    .string({ error: 'is required' })
    .min(min, `looks too short to be ${what}`)
    .refine((s) => !PLACEHOLDER.test(s), 'is still a placeholder (as in .env.example): put the real value here');
}
