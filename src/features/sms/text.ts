import type { SmsTemplate } from '../../config';
import { cleanSmsText, MAX_SMS_SEGMENTS, smsSegments, smsUnsafe, type SmsSegments } from '../../formats';

/** The longest value the agent may give one variable, after cleaning. */
export const MAX_VARIABLE_CHARS = 200;
/** The most variables one request may carry (a template has at most 20). */
export const MAX_VARIABLES = 50;

export type Rendered = { ok: true; body: string } & SmsSegments;
/** What is wrong with the agent's request, in a sentence it can act on. */
export type RenderRefusal = { ok: false; sentence: string };

/**
 * The template with the agent's variables filled in. The agent writes only the variables, never the
 * text, and a caller steers what it writes, so each value is cleaned (NFC, invisible formatting
 * characters removed, trimmed) and refused when it holds characters a text cannot carry (control
 * characters, lone surrogates), is longer than MAX_VARIABLE_CHARS, is not a string, number or boolean,
 * or is missing; the whole text is refused past MAX_SMS_SEGMENTS segments. Variables the template does
 * not use are ignored.
 */
export function renderTemplate(template: SmsTemplate, variables: Readonly<Record<string, unknown>>): Rendered | RenderRefusal {
  const names = Object.keys(variables);
  if (names.length > MAX_VARIABLES) return { ok: false, sentence: `Too many variables: at most ${MAX_VARIABLES}.` };
  const values = new Map<string, string>();
  for (const name of template.variables) {
    const raw = Object.hasOwn(variables, name) ? variables[name] : undefined;
    if (raw === undefined || raw === null) continue;
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') return { ok: false, sentence: `The variable ${name} must be text, not ${Array.isArray(raw) ? 'a list' : 'an object'}.` };
    const text = String(raw);
    if (smsUnsafe(text)) return { ok: false, sentence: `The variable ${name} contains control characters or other characters a text cannot carry; give it as plain text on one line.` };
    const value = cleanSmsText(text);
    if (value.length > MAX_VARIABLE_CHARS) return { ok: false, sentence: `The variable ${name} is too long: at most ${MAX_VARIABLE_CHARS} characters.` };
    if (value !== '') values.set(name, value);
  }
  const missing = template.variables.filter((name) => !values.has(name));
  if (missing.length) return { ok: false, sentence: `The text ${template.name} needs: ${missing.join(', ')}. Ask the caller for ${missing.length > 1 ? 'them' : 'it'} and try again.` };
  const body = template.parts.map((part) => (typeof part === 'string' ? part : values.get(part.variable)!)).join('');
  const segments = smsSegments(body);
  if (segments.segments > MAX_SMS_SEGMENTS) {
    return { ok: false, sentence: `That text would take ${segments.segments} messages; at most ${MAX_SMS_SEGMENTS}. Use shorter values.` };
  }
  return { ok: true, body, ...segments };
}
