/** Where an agent may transfer a call: named destinations, numbers it may name directly, and warm transfers. */
import { z } from 'zod';
import { isXmlSafe } from '../formats';
import { setting, type Rule, type ValuesOf } from './parse';
import { allowlist, e164, jsonObject, NOT_XML_SAFE, optionalSpokenText, wholeNumber } from './values';

export const title = 'Transfers';

// Dialed through TwiML's <Sip>, so nothing XML cannot carry (a control character would fail every transfer there).
const sipUri = z
  .string()
  .regex(/^sips?:[^\s@]+@[^\s]+$/i, 'must be a SIP URI such as sip:desk@pbx.example.com')
  .refine(isXmlSafe, NOT_XML_SAFE);

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
      description: 'JSON object: destination name -> E.164 number or SIP URI the agent may transfer to by name, e.g. {"sales":"+14155550101"}',
      example: '{"sales":"+14155550101"}',
      docs: { meaning: 'JSON: destination name → E.164 number or SIP URI' },
      dotenv: {
        comment:
          'JSON object: destination name -> E.164 number or SIP URI the agent may transfer to by name,\ne.g. {"sales":"+14155550101","support":"sip:desk@pbx.example.com"}',
      },
    },
  ),
  TRANSFER_ALLOWLIST: setting(allowlist, {
    description: 'Comma-separated E.164 numbers, or prefixes ending in *, that an agent may name directly, e.g. +14155550102,+1646*',
    example: '+14155550102,+1646*',
    deploy: {
      how: 'optional',
      heroku:
        'Comma-separated E.164 numbers, or prefixes ending in *, that an agent may name directly, e.g. +14155550102,+1646*. Leave empty to allow only TRANSFER_DESTINATIONS.',
    },
  }),
  WARM_TRANSFER_RING_TIMEOUT_S: setting(
    wholeNumber({
      unit: 'seconds',
      min: 5,
      max: 600,
      default: 20,
      minMessage: "must be at least 5 (Twilio's shortest ring time)",
      maxMessage: "must be at most 600 (Twilio's longest ring time)",
    }),
    {
      description: 'Seconds the person taking a warm transfer (the warm_transfer function) is rung, 5-600',
      docs: { meaning: 'how long the person taking a [warm transfer](transfers.md#warm-transfer) is rung (5-600 s)' },
      dotenv: {
        comment:
          'Warm transfer (the warm_transfer function): seconds the person is rung (5-600), the key they press to take the call, and an optional sentence the caller hears while being joined.',
        paragraph: true,
      },
    },
  ),
  WARM_TRANSFER_ACCEPT_DIGIT: setting(z.string().regex(/^[0-9*#]$/, 'must be one key of a phone keypad: 0-9, * or #').default('1'), {
    description: 'The key the person presses to take a warm transfer (0-9, * or #); any other key, or none, declines it',
    dotenv: { comment: false },
  }),
  WARM_TRANSFER_HOLD_MESSAGE: setting(optionalSpokenText(500), {
    description: 'Said to the caller while being joined with the person who took a warm transfer; nothing when unset',
    example: 'Connecting you now.',
    dotenv: { comment: false },
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules: readonly Rule[] = [];

export function toConfig(e: Values) {
  return {
    transfer: { destinations: e.TRANSFER_DESTINATIONS as Readonly<Record<string, string>>, allowlist: e.TRANSFER_ALLOWLIST as readonly string[] },
    warmTransfer: { ringTimeoutS: e.WARM_TRANSFER_RING_TIMEOUT_S, acceptDigit: e.WARM_TRANSFER_ACCEPT_DIGIT, holdMessage: e.WARM_TRANSFER_HOLD_MESSAGE },
  };
}
