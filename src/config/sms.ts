/**
 * Texts from the agent (send_sms): the templates it may send, who sends them, and the numbers other than
 * the other party of the call it may text.
 */
import { z } from 'zod';
import { cleanSmsText, MAX_SMS_SEGMENTS, smsSegments, smsUnsafe } from '../formats';
import { rule, setting, type ValuesOf } from './parse';
import { allowlist, e164, jsonObject } from './values';

export const title = 'Texts from the agent';

/** One `{{variable}}` of a template: letters, digits and `_`, not starting with a digit. */
export const SMS_VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A template's name, as the agent gives it in `template`. */
export const SMS_TEMPLATE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Twilio's limit on a message body. */
const MAX_TEMPLATE_CHARS = 1600;
const MAX_TEMPLATES = 100;
const MAX_TEMPLATE_VARIABLES = 20;

/** A template, parsed once at start: its text split into fixed parts and the variables the agent fills. */
export interface SmsTemplate {
  name: string;
  /** As configured, cleaned (NFC, invisible characters removed, CRLF as LF, trimmed). */
  text: string;
  parts: ReadonlyArray<string | { variable: string }>;
  /** Each variable once, in order of first use. */
  variables: readonly string[];
}

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;

/** Parses one template's text, or says what is wrong with it (in words for the person editing SMS_TEMPLATES). */
export function parseSmsTemplate(name: string, raw: string): { ok: true; template: SmsTemplate } | { ok: false; problem: string } {
  const text = cleanSmsText(raw.replace(/\r\n?/g, '\n'));
  if (text === '') return { ok: false, problem: `template "${name}" is empty` };
  if (smsUnsafe(text, true)) return { ok: false, problem: `template "${name}" contains control characters or other characters a text cannot carry (line breaks are fine)` };
  if (text.length > MAX_TEMPLATE_CHARS) return { ok: false, problem: `template "${name}" is ${text.length} characters long; Twilio sends at most ${MAX_TEMPLATE_CHARS}` };
  const parts: Array<string | { variable: string }> = [];
  const variables: string[] = [];
  let at = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    const variable = match[1]!.trim();
    if (!SMS_VARIABLE_NAME.test(variable)) {
      return { ok: false, problem: `template "${name}": {{${match[1]}}} is not a placeholder; names are letters, digits and _, not starting with a digit` };
    }
    if (match.index > at) parts.push(text.slice(at, match.index));
    parts.push({ variable });
    if (!variables.includes(variable)) variables.push(variable);
    at = match.index + match[0].length;
  }
  if (at < text.length) parts.push(text.slice(at));
  const fixed = parts.filter((p): p is string => typeof p === 'string').join('');
  if (fixed.includes('{{') || fixed.includes('}}')) return { ok: false, problem: `template "${name}" has a {{ or }} that does not belong to a {{variable}}` };
  if (variables.length > MAX_TEMPLATE_VARIABLES) return { ok: false, problem: `template "${name}" has ${variables.length} variables; at most ${MAX_TEMPLATE_VARIABLES}` };
  const { segments } = smsSegments(fixed);
  if (segments > MAX_SMS_SEGMENTS) return { ok: false, problem: `template "${name}" takes ${segments} SMS segments without its variables; at most ${MAX_SMS_SEGMENTS}` };
  return { ok: true, template: { name, text, parts, variables } };
}

const templates = jsonObject(
  z
    .record(z.string(), z.string({ error: 'values must be the text of the template' }))
    .refine((t) => Object.keys(t).length <= MAX_TEMPLATES, `must hold at most ${MAX_TEMPLATES} templates`)
    .transform((t, ctx) => {
      const parsed: Record<string, SmsTemplate> = {};
      for (const [name, raw] of Object.entries(t)) {
        if (!SMS_TEMPLATE_NAME.test(name)) {
          ctx.addIssue({ code: 'custom', message: `template names must be 1-64 letters, digits, dashes or underscores, not ${JSON.stringify(name.slice(0, 70))}` });
          continue;
        }
        const result = parseSmsTemplate(name, raw);
        if (result.ok) parsed[name] = result.template;
        else ctx.addIssue({ code: 'custom', message: result.problem });
      }
      return parsed;
    }),
  '{"booking_link":"Book here: {{link}}"}',
);

export const settings = {
  SMS_TEMPLATES: setting(templates, {
    description: 'Template name -> text with {{variable}} placeholders: the only texts the agent can send (send_sms)',
    example: '{"booking_link":"Hi {{name}}, book your visit here: https://example.com/book"}',
    deploy: {
      how: 'group',
      heroku: 'JSON object: template name -> text with {{variable}} placeholders the agent fills, e.g. {"booking_link":"Book here: https://example.com/book?ref={{ref}}"}. The agent can send only these (send_sms).',
    },
    docs: { meaning: 'JSON: template name → text with `{{variable}}` placeholders; the only [texts](sms.md) the agent can send' },
    dotenv: {
      comment:
        'Texts from the agent (send_sms, see docs/sms.md). JSON object: template name -> text with {{variable}}\nplaceholders the agent fills, e.g. {"booking_link":"Hi {{name}}, book here: https://example.com/book"}',
      paragraph: true,
    },
  }),
  SMS_FROM: setting(e164.optional(), {
    description: "Sender of the agent's texts: an SMS-capable number of your Twilio account (E.164); empty: the number of the call",
    example: '+14155550100',
    docs: { default: 'the number of the call', meaning: 'sender of `send_sms` texts; or `TWILIO_MESSAGING_SERVICE_SID`' },
    dotenv: { comment: "Sender of the agent's texts (E.164); empty: the bridge's number of the call. Or a Messaging Service:" },
  }),
  TWILIO_MESSAGING_SERVICE_SID: setting(z.string().regex(/^MG[0-9a-fA-F]{32}$/, 'must be a Messaging Service SID: MG followed by 32 hex digits').optional(), {
    description: "A Messaging Service SID (MG…) that sends the agent's texts instead of one number",
    example: 'MG0123456789abcdef0123456789abcdef',
    dotenv: { comment: false },
  }),
  SMS_ALLOWLIST: setting(allowlist, {
    description: 'Comma-separated E.164 numbers, or prefixes ending in *, the agent may text besides the other party of the call; empty: only the other party',
    example: '+14155550102,+1646*',
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  rule(settings, ['SMS_FROM', 'TWILIO_MESSAGING_SERVICE_SID'], (e) => {
    if (!e.SMS_FROM || !e.TWILIO_MESSAGING_SERVICE_SID) return [];
    return [{ variable: 'SMS_FROM', problem: 'is set together with TWILIO_MESSAGING_SERVICE_SID: texts go from one or the other, so leave one empty' }];
  }),
];

export function toConfig(e: Values) {
  return {
    sms: {
      templates: e.SMS_TEMPLATES as Readonly<Record<string, SmsTemplate>>,
      from: e.SMS_FROM,
      messagingServiceSid: e.TWILIO_MESSAGING_SERVICE_SID,
      allowlist: e.SMS_ALLOWLIST as readonly string[],
    },
  };
}
