/** Outbound calls (POST /calls): the token that turns them on, caller ID, where they may go, pace and reporting. */
import { z } from 'zod';
import { requirement, setting, type ValuesOf } from './parse';
import { httpsInProduction } from './server';
import { allowlist, e164, httpUrl, milliseconds, notPlaceholder, wholeNumber } from './values';

export const title = 'Outbound calls';

export const settings = {
  API_TOKEN: setting(
    notPlaceholder(
      z
        .string()
        .min(16, 'must be at least 16 characters; generate one with: openssl rand -hex 32')
        .max(256, 'must be at most 256 characters')
        .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    ).optional(),
    {
      description: 'Bearer token of POST/GET/DELETE /calls (outbound calls); those endpoints answer 404 while it is unset',
      example: '<openssl rand -hex 32>',
      secret: true,
      deploy: {
        how: 'optional',
        heroku:
          "Bearer token that turns on outbound calls (POST /calls); at least 16 characters, e.g. from 'openssl rand -hex 32'. Leave empty to keep outbound calls off (404).",
      },
      docs: {
        meaning:
          'turns on [outbound calls](outbound.md): `POST/GET/DELETE /calls` with `Authorization: Bearer <token>` (16+ characters); 404 while unset. Also keys `X-Bridge-Signature`',
      },
      dotenv: {
        comment:
          'Outbound calls (POST /calls). A bearer token of at least 16 characters turns them on (openssl rand -hex 32); while it is empty, /calls answers 404.',
      },
    },
  ),
  OUTBOUND_FROM_NUMBER: setting(e164.optional(), {
    description: 'Caller ID of outbound calls that do not name one: a voice number of your Twilio account (E.164)',
    example: '+14155550100',
  }),
  OUTBOUND_ALLOWLIST: setting(allowlist, {
    description: 'Comma-separated E.164 numbers, or prefixes ending in *, that outbound calls may dial, e.g. +1415*; empty allows any number',
    example: '+1415*,+14155550102',
    docs: { default: 'empty (any)' },
    dotenv: {
      comment:
        'Comma-separated E.164 numbers, or prefixes ending in *, that outbound calls may dial, e.g. +1415*,+1646*.\nEmpty allows any number your Twilio geo permissions allow.',
    },
  }),
  OUTBOUND_WEBHOOK_URL: setting(httpUrl.optional(), {
    description: "Receives each outbound call's status changes and outcome as JSON, signed X-Bridge-Signature with API_TOKEN",
    example: 'https://crm.example.com/calls/events',
  }),
  PREDIAL_WEBHOOK_URL: setting(httpUrl.optional(), {
    description:
      'Pre-dial hook asked before every outbound dial (single calls and campaigns), answering {"allow": true|false, "reason"?}; a call it does not allow in time is not dialed; off when unset',
    example: 'https://crm.example.com/bridge/predial',
    deploy: {
      how: 'optional',
      heroku:
        'Optional pre-dial hook (https) asked before every outbound dial; it answers {"allow": true|false}, and a call without an allow in time is not dialed. Leave empty for none.',
    },
    docs: {
      meaning:
        '[pre-dial hook](do-not-call.md#pre-dial-hook) asked before every outbound dial (single calls and campaigns): answers `{"allow": true|false, "reason"?}`; no answer in time = not dialed; https in production',
    },
    dotenv: {
      comment:
        'Pre-dial hook (see docs/do-not-call.md) asked before every outbound dial, signed with RETELL_API_KEY.\nIt answers {"allow": true|false, "reason"?}; a call it does not allow in time is not dialed (fail closed).\nOff when empty; must be https with NODE_ENV=production.',
    },
  }),
  PREDIAL_WEBHOOK_TIMEOUT_MS: setting(milliseconds({ min: 100, minMessage: 'must be at least 100', max: 10_000, maxMessage: 'must be at most 10000: outbound calls wait for the hook', default: 2000 }), {
    description: 'Milliseconds the pre-dial hook may take; a call without its answer in time is not dialed (fail closed)',
  }),
  TWILIO_CPS: setting(wholeNumber({ unit: 'calls per second', min: 1, max: 1000, default: 1 }), {
    description: 'Outbound calls placed per second, across all worker processes; Twilio accounts allow 1 unless raised in the Console',
  }),
  OUTBOUND_RESERVED_CONCURRENCY: setting(wholeNumber({ min: 0, max: 10_000, default: 1 }), {
    description: 'Retell concurrency kept free for inbound calls: outbound calls wait while fewer slots than this would be left',
  }),
  CAMPAIGN_RETENTION_DAYS: setting(wholeNumber({ unit: 'days', min: 1, minMessage: 'must be at least 1', max: 3650, maxMessage: 'must be at most 3650 (10 years)', default: 30 }), {
    description: 'Days a completed or canceled campaign (its tasks and results.csv) is kept, counted from its end, before Redis deletes it',
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  // The numbers called, the calls' outcomes and the numbers about to be dialed go to the user's hooks.
  httpsInProduction(settings, 'OUTBOUND_WEBHOOK_URL', "the numbers called and the calls' outcomes"),
  httpsInProduction(settings, 'PREDIAL_WEBHOOK_URL', 'the numbers about to be dialed'),
  requirement(
    settings,
    ['OUTBOUND_WEBHOOK_URL', 'API_TOKEN'],
    'OUTBOUND_WEBHOOK_URL',
    (e) => !e.OUTBOUND_WEBHOOK_URL || Boolean(e.API_TOKEN),
    'needs API_TOKEN, which turns outbound calls on and signs the webhook',
  ),
];

export function toConfig(e: Values) {
  return {
    outbound: {
      apiToken: e.API_TOKEN,
      fromNumber: e.OUTBOUND_FROM_NUMBER,
      allowlist: e.OUTBOUND_ALLOWLIST as readonly string[],
      webhookUrl: e.OUTBOUND_WEBHOOK_URL,
      cps: e.TWILIO_CPS,
      reservedConcurrency: e.OUTBOUND_RESERVED_CONCURRENCY,
      predial: { url: e.PREDIAL_WEBHOOK_URL, timeoutMs: e.PREDIAL_WEBHOOK_TIMEOUT_MS },
      campaignRetentionMs: e.CAMPAIGN_RETENTION_DAYS * 24 * 3600 * 1000,
    },
  };
}
