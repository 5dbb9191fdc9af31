/**
 * Answering an inbound call: the lookup hook asked for the agent and variables first, and what the caller
 * gets when Retell cannot take the call.
 */
import { z } from 'zod';
import { rule, setting, type ValuesOf } from './parse';
import * as retell from './retell';
import { httpsInProduction } from './server';
import { e164, milliseconds, spokenText } from './values';

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
  INBOUND_WEBHOOK_TIMEOUT_MS: setting(milliseconds({ min: 100, minMessage: 'must be at least 100', default: 2500 }), {
    description: `Milliseconds the lookup hook may take before the call goes to the default agent; with RETELL_TIMEOUT_MS at most ${HOOK_AND_REGISTRATION_MS} in all`,
  }),
  FALLBACK_NUMBER: setting(z.union([z.literal('').transform(() => undefined), e164]).optional(), {
    description: 'When Retell cannot take the call, dial this number instead (E.164)',
    example: '+14155550123',
    deploy: { how: 'optional', heroku: 'When Retell cannot take a call, dial this E.164 number instead. Leave empty to play FALLBACK_MESSAGE and hang up.' },
    dotenv: { comment: 'When Retell cannot take the call, dial this number instead (E.164)...', paragraph: true },
  }),
  FALLBACK_MESSAGE: setting(spokenText(1000).min(1).default("We're sorry, our assistant can't take your call right now. Please try again later."), {
    description: 'Said to the caller before hanging up when Retell cannot take the call and there is no FALLBACK_NUMBER',
    example: 'Sorry, please call back later.',
    docs: { default: 'a short apology', meaning: 'otherwise say this and hang up' },
    dotenv: { comment: '...or, without a number, say this and hang up.' },
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  // Callers' numbers go to the user's hook.
  httpsInProduction(settings, 'INBOUND_WEBHOOK_URL', "callers' numbers"),
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
