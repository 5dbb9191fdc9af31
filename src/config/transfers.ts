/** Where an agent may transfer a call: named destinations, numbers it may name directly, and warm transfers. */
import { z } from 'zod';
import { isXmlSafe } from '../formats';
import { setting, type Rule, type ValuesOf } from './parse';
import { allowlist, e164, jsonObject } from './values';

export const title = 'Transfers';

// Dialed through TwiML's <Sip>, so nothing XML cannot carry (a control character would fail every transfer there).
const sipUri = z
  .string()
  .regex(/^sips?:[^\s@]+@[^\s]+$/i, 'must be a SIP URI such as sip:desk@pbx.example.com')
  .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry');

export const settings = {
  TRANSFER_DESTINATIONS: setting(
    jsonObject(
      z.record(
        z.string().regex(/^[A-Za-z0-9_ .-]{1,64}$/, 'names must be 1-64 letters, digits, spaces, dots, dashes or underscores'),
        z.union([e164, sipUri], { error: 'values must be E.164 numbers or SIP URIs' }),
      ),
      '{"sales":"+14155550101","support":"sip:desk@pbx.example.com"}',
    ),
    {
      description: 'Destination name -> E.164 number or SIP URI',
      example: '{"sales":"+14155550101"}',
      deploy: {
        how: 'group',
        heroku: 'JSON object: destination name -> E.164 number or SIP URI the agent may transfer to by name, e.g. {"sales":"+14155550101"}.',
      },
      docs: { meaning: 'JSON: destination name → E.164 number or SIP URI' },
      dotenv: {
        comment:
          'JSON object: destination name -> E.164 number or SIP URI the agent may transfer to by name,\ne.g. {"sales":"+14155550101","support":"sip:desk@pbx.example.com"}',
      },
    },
  ),
  TRANSFER_ALLOWLIST: setting(allowlist, {
    description: 'E.164 numbers or prefixes ending in * that an agent may name directly',
    example: '+14155550102,+1646*',
    deploy: {
      how: 'optional',
      heroku:
        'Comma-separated E.164 numbers, or prefixes ending in *, that an agent may name directly, e.g. +14155550102,+1646*. Leave empty to allow only TRANSFER_DESTINATIONS.',
    },
    docs: { meaning: 'comma-separated E.164 numbers, or prefixes ending in `*`, an agent may name directly' },
    dotenv: { comment: 'Comma-separated E.164 numbers, or prefixes ending in *, that an agent may name directly,\ne.g. +14155550102,+1646*' },
  }),
  WARM_TRANSFER_RING_TIMEOUT_S: setting(
    z.coerce
      .number({ error: 'must be a whole number of seconds' })
      .int('must be a whole number of seconds')
      .min(5, 'must be at least 5 (Twilio\'s shortest ring time)')
      .max(600, 'must be at most 600 (Twilio\'s longest ring time)')
      .default(20),
    {
      description: 'How long the person taking a warm transfer is rung before the agent is told nobody answered',
      example: '20',
      deploy: { how: 'group', heroku: 'Seconds the person taking a warm transfer (the warm_transfer function) is rung, 5-600.' },
      docs: { meaning: 'how long the person taking a [warm transfer](transfers.md#warm-transfer) is rung (5-600 s)' },
      dotenv: {
        comment:
          'Warm transfer (the warm_transfer function): seconds the person is rung (5-600), the key they press to take the call, and an optional sentence the caller hears while being joined.',
        paragraph: true,
      },
    },
  ),
  WARM_TRANSFER_ACCEPT_DIGIT: setting(
    z
      .string()
      .regex(/^[0-9*#]$/, 'must be one key of a phone keypad: 0-9, * or #')
      .default('1'),
    {
      description: 'The key the person presses to take a warm transfer; any other key, or none, declines it',
      example: '1',
      deploy: { how: 'group', heroku: 'The key that person presses to take the call (0-9, * or #); any other key, or none, declines.' },
      docs: { meaning: 'the key that person presses to take the call; any other key, or none, declines' },
      dotenv: {},
    },
  ),
  WARM_TRANSFER_HOLD_MESSAGE: setting(
    z
      .string()
      .max(500, 'must be at most 500 characters')
      .refine(isXmlSafe, 'must not contain control characters or other characters XML cannot carry')
      .optional()
      .transform((s) => (s?.trim() ? s.trim() : undefined)),
    {
      description: 'Said to the caller while being joined with the person who took a warm transfer; nothing when unset',
      example: 'Connecting you now.',
      deploy: { how: 'optional', heroku: 'Optional sentence the caller hears while being joined with the person who took a warm transfer.' },
      docs: { meaning: 'said to the caller while being joined with that person' },
      dotenv: {},
    },
  ),
};

type Values = ValuesOf<typeof settings>;

export const rules: readonly Rule[] = [];

export function toConfig(e: Values) {
  return {
    transfer: { destinations: e.TRANSFER_DESTINATIONS as Readonly<Record<string, string>>, allowlist: e.TRANSFER_ALLOWLIST as readonly string[] },
    warmTransfer: { ringTimeoutS: e.WARM_TRANSFER_RING_TIMEOUT_S, acceptDigit: e.WARM_TRANSFER_ACCEPT_DIGIT, holdMessage: e.WARM_TRANSFER_HOLD_MESSAGE },
  };
}
