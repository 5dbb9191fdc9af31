/**
 * Answering an inbound call: the lookup hook asked for the agent and variables first, and what the caller
 * gets when Retell cannot take the call.
 */
import { z } from 'zod';
import { isXmlSafe } from '../formats';
import { rule, setting, type ValuesOf } from './parse';
import * as retell from './retell';
import * as server from './server';
import { e164 } from './values';

export const title = 'Inbound calls: lookup hook and fallback';

/**
 * Of Twilio's 15 s for answering a voice webhook, what the bridge allows itself; the rest covers the
 * network both ways and Twilio's own handling.
 */
export const ANSWER_BUDGET_MS = 13_000;

/** Kept back inside the answer budget for Redis round trips and building the TwiML. */
const ANSWER_RESERVE_MS = 1_000;

/** What the lookup hook and the registration may take together. */
const HOOK_AND_REGISTRATION_MS = ANSWER_BUDGET_MS - ANSWER_RESERVE_MS;

export const settings = {
  INBOUND_WEBHOOK_URL: setting(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(), {
    description:
      'Lookup hook asked for the agent and dynamic variables before each new inbound call is registered (Retell\'s inbound-webhook contract); off when unset',
    example: 'https://crm.example.com/retell/inbound',
    deploy: {
      how: 'optional',
      heroku:
        "Optional lookup hook (https) asked for the agent and dynamic variables of each new inbound call, with Retell's inbound-webhook contract. Leave empty for none.",
    },
    docs: {
      meaning:
        "[lookup hook](lookup-hook.md) asked for the agent and variables of each new inbound call (Retell's inbound-webhook contract); https in production",
    },
    dotenv: {
      comment:
        'Lookup hook asked for the agent and dynamic variables of each new inbound call, with Retell\'s inbound-webhook request and answer, signed with RETELL_API_KEY (see "Per-caller agent and variables" in the README). Off when empty; must be https with NODE_ENV=production.',
    },
  }),
  INBOUND_WEBHOOK_TIMEOUT_MS: setting(
    z.coerce
      .number({ error: 'must be a number of milliseconds' })
      .int()
      .min(100, 'must be at least 100')
      .default(2500),
    {
      description: 'How long the lookup hook may take before the call goes to the agent the bridge would have used',
      example: '2500',
      deploy: {
        how: 'group',
        heroku: `Milliseconds the lookup hook may take before the call goes to the default agent (with RETELL_TIMEOUT_MS at most ${HOOK_AND_REGISTRATION_MS}).`,
      },
      docs: { meaning: `how long the lookup hook may take before the default agent is used; with \`RETELL_TIMEOUT_MS\` at most ${HOOK_AND_REGISTRATION_MS}` },
      dotenv: { comment: `Milliseconds the lookup hook may take before the call goes to the default agent; with RETELL_TIMEOUT_MS at most ${HOOK_AND_REGISTRATION_MS} in all.` },
    },
  ),
  FALLBACK_NUMBER: setting(z.union([z.literal('').transform(() => undefined), e164]).optional(), {
    description: 'When Retell cannot take the call, dial this number instead',
    example: '+14155550123',
    deploy: { how: 'optional', heroku: 'When Retell cannot take a call, dial this E.164 number instead. Leave empty to play FALLBACK_MESSAGE and hang up.' },
    docs: { meaning: 'when Retell cannot take the call, dial this number' },
    dotenv: { comment: 'When Retell cannot take the call, dial this number instead (E.164)...', paragraph: true },
  }),
  FALLBACK_MESSAGE: setting(
    z
      .string()
      .min(1)
      .max(1000, 'must be at most 1000 characters')
      .default("We're sorry, our assistant can't take your call right now. Please try again later.")
      .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry'),
    {
      description: 'Said before hanging up when Retell cannot take the call and there is no FALLBACK_NUMBER',
      example: 'Sorry, please call back later.',
      deploy: { how: 'group', heroku: 'Said to the caller when Retell cannot take the call and there is no FALLBACK_NUMBER.' },
      docs: { default: 'a short apology', meaning: 'otherwise say this and hang up' },
      dotenv: { comment: '...or, without a number, say this and hang up.' },
    },
  ),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  // Callers' numbers go to the user's hook: in production only over TLS.
  rule({ ...settings, NODE_ENV: server.settings.NODE_ENV }, ['NODE_ENV', 'INBOUND_WEBHOOK_URL'], (e) => {
    if (e.NODE_ENV !== 'production' || !e.INBOUND_WEBHOOK_URL || new URL(e.INBOUND_WEBHOOK_URL).protocol === 'https:') return [];
    return [{
      variable: 'INBOUND_WEBHOOK_URL',
      problem: "must be an https URL when NODE_ENV=production (it receives callers' numbers)",
      example: e.INBOUND_WEBHOOK_URL.replace(/^http:/, 'https:'),
    }];
  }),
  // The hook runs before the registration, so together they must fit the answer budget.
  rule({ ...settings, RETELL_TIMEOUT_MS: retell.settings.RETELL_TIMEOUT_MS }, ['INBOUND_WEBHOOK_URL', 'INBOUND_WEBHOOK_TIMEOUT_MS', 'RETELL_TIMEOUT_MS'], (e) => {
    const limit = HOOK_AND_REGISTRATION_MS;
    if (!e.INBOUND_WEBHOOK_URL || e.INBOUND_WEBHOOK_TIMEOUT_MS + e.RETELL_TIMEOUT_MS <= limit) return [];
    return [{
      variable: 'INBOUND_WEBHOOK_TIMEOUT_MS',
      problem:
        `must be at most ${limit - e.RETELL_TIMEOUT_MS} with RETELL_TIMEOUT_MS=${e.RETELL_TIMEOUT_MS}: the two together may take at most ${limit} ms, ` +
        'so the registration keeps its full time inside Twilio\'s 15 s webhook budget',
      example: String(Math.min(2500, limit - e.RETELL_TIMEOUT_MS)),
    }];
  }),
];

export function toConfig(e: Values) {
  return {
    lookupHook: { url: e.INBOUND_WEBHOOK_URL, timeoutMs: e.INBOUND_WEBHOOK_TIMEOUT_MS },
    fallback: { number: e.FALLBACK_NUMBER, message: e.FALLBACK_MESSAGE },
  };
}
