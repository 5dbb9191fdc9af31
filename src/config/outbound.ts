/** Outbound calls (POST /calls): the token that turns them on, caller ID, where they may go, pace and reporting. */
import { z } from 'zod';
import { metaOf, rule, setting, type ValuesOf } from './parse';
import * as server from './server';
import { allowlist, e164, httpUrl, PLACEHOLDER } from './values';

export const title = 'Outbound calls';

export const settings = {
  API_TOKEN: setting(
    z
      .string()
      .min(16, 'must be at least 16 characters; generate one with: openssl rand -hex 32')
      .max(256, 'must be at most 256 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .refine((s) => !PLACEHOLDER.test(s), 'is still a placeholder (as in .env.example): put the real value here')
      .optional(),
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
    description: 'Caller ID of outbound calls that do not name a from number (a number of the Twilio account)',
    example: '+14155550100',
    deploy: { how: 'optional', heroku: 'Caller ID of outbound calls that do not name one: a voice number of your Twilio account (E.164).' },
    docs: { meaning: 'caller ID of outbound calls that do not name one (a number of your Twilio account)' },
    dotenv: { comment: 'Caller ID of outbound calls that do not name one: a voice number of your Twilio account (E.164).' },
  }),
  OUTBOUND_ALLOWLIST: setting(allowlist, {
    description: 'E.164 numbers or prefixes ending in * that outbound calls may dial; empty allows any number',
    example: '+1415*,+14155550102',
    deploy: {
      how: 'optional',
      heroku: 'Comma-separated E.164 numbers, or prefixes ending in *, that outbound calls may dial, e.g. +1415*. Empty allows any number.',
    },
    docs: { default: 'empty (any)', meaning: 'comma-separated E.164 numbers, or prefixes ending in `*`, outbound calls may dial' },
    dotenv: {
      comment:
        'Comma-separated E.164 numbers, or prefixes ending in *, that outbound calls may dial, e.g. +1415*,+1646*.\nEmpty allows any number your Twilio geo permissions allow.',
    },
  }),
  OUTBOUND_WEBHOOK_URL: setting(httpUrl.optional(), {
    description: 'Receives each outbound call\'s status changes and outcome as signed JSON (X-Bridge-Signature, keyed with API_TOKEN)',
    example: 'https://crm.example.com/calls/events',
    deploy: { how: 'optional', heroku: "Receives each outbound call's status changes and outcome as JSON, signed X-Bridge-Signature with API_TOKEN." },
    docs: { meaning: "receives each outbound call's status changes and outcome, signed `X-Bridge-Signature` (needs `API_TOKEN`)" },
    dotenv: { comment: "Receives each outbound call's status changes and outcome as JSON, signed X-Bridge-Signature with API_TOKEN." },
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
  PREDIAL_WEBHOOK_TIMEOUT_MS: setting(
    z.coerce
      .number({ error: 'must be a number of milliseconds' })
      .int()
      .min(100, 'must be at least 100')
      .max(10_000, 'must be at most 10000: outbound calls wait for the hook')
      .default(2000),
    {
      description: 'How long the pre-dial hook may take; a call without its answer in time is not dialed',
      example: '2000',
      deploy: { how: 'group', heroku: 'Milliseconds the pre-dial hook may take before the call is not dialed (fail closed).' },
      docs: { meaning: 'how long the pre-dial hook may take; a call without its answer in time is not dialed' },
      dotenv: { comment: 'Milliseconds the pre-dial hook may take; a call without its answer in time is not dialed.' },
    },
  ),
  TWILIO_CPS: setting(
    z.coerce
      .number({ error: 'must be a whole number of calls per second' })
      .int()
      .min(1)
      .max(1000)
      .default(1),
    {
      description: 'Outbound calls placed per second across all workers; Twilio accounts allow 1 unless raised',
      example: '1',
      deploy: { how: 'group', heroku: 'Outbound calls placed per second across all workers. Twilio accounts allow 1 unless raised in the Console.' },
      docs: { meaning: 'outbound calls placed per second, across all worker processes' },
      dotenv: { comment: 'Outbound calls placed per second, across all worker processes. Twilio accounts allow 1 unless raised.' },
    },
  ),
  OUTBOUND_RESERVED_CONCURRENCY: setting(
    z.coerce
      .number({ error: 'must be a whole number' })
      .int()
      .min(0)
      .max(10_000)
      .default(1),
    {
      description: 'Retell concurrency kept free for inbound calls: outbound calls wait while fewer slots than this would be left',
      example: '1',
      deploy: { how: 'group', heroku: 'Retell concurrency kept free for inbound calls; outbound calls wait while fewer slots would be left.' },
      docs: { meaning: 'Retell concurrency kept free for inbound calls' },
      dotenv: { comment: 'Retell concurrency kept free for inbound calls: outbound calls wait while fewer slots than this would be left.' },
    },
  ),
  CAMPAIGN_RETENTION_DAYS: setting(
    z.coerce
      .number({ error: 'must be a whole number of days' })
      .int()
      .min(1, 'must be at least 1')
      .max(3650, 'must be at most 3650 (10 years)')
      .default(30),
    {
      description: 'Days a completed or canceled campaign (its tasks and results) is kept before Redis deletes it',
      example: '30',
      deploy: { how: 'group', heroku: 'Days a completed or canceled campaign (tasks, results.csv) is kept before it is deleted.' },
      docs: { meaning: 'days a completed or canceled campaign (its tasks and `results.csv`) is kept, counted from its end; then Redis deletes it' },
      dotenv: { comment: 'Days a completed or canceled campaign (tasks, results.csv) is kept before it is deleted.' },
    },
  ),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  // The numbers called and the calls' outcomes go to the user's webhook: in production only over TLS.
  rule({ ...settings, NODE_ENV: server.settings.NODE_ENV }, ['NODE_ENV', 'OUTBOUND_WEBHOOK_URL'], (e) => {
    if (e.NODE_ENV !== 'production' || !e.OUTBOUND_WEBHOOK_URL || new URL(e.OUTBOUND_WEBHOOK_URL).protocol === 'https:') return [];
    return [{
      variable: 'OUTBOUND_WEBHOOK_URL',
      problem: 'must be an https URL when NODE_ENV=production (it receives the numbers called and the calls\' outcomes)',
      example: e.OUTBOUND_WEBHOOK_URL.replace(/^http:/, 'https:'),
    }];
  }),
  // The numbers about to be dialed go to the hook: in production only over TLS.
  rule({ ...settings, NODE_ENV: server.settings.NODE_ENV }, ['NODE_ENV', 'PREDIAL_WEBHOOK_URL'], (e) => {
    if (e.NODE_ENV !== 'production' || !e.PREDIAL_WEBHOOK_URL || new URL(e.PREDIAL_WEBHOOK_URL).protocol === 'https:') return [];
    return [{
      variable: 'PREDIAL_WEBHOOK_URL',
      problem: 'must be an https URL when NODE_ENV=production (it receives the numbers about to be dialed)',
      example: e.PREDIAL_WEBHOOK_URL.replace(/^http:/, 'https:'),
    }];
  }),
  rule(settings, ['OUTBOUND_WEBHOOK_URL', 'API_TOKEN'], (e) => {
    if (!e.OUTBOUND_WEBHOOK_URL || e.API_TOKEN) return [];
    return [{ variable: 'OUTBOUND_WEBHOOK_URL', problem: 'needs API_TOKEN, which turns outbound calls on and signs the webhook', example: metaOf(settings.OUTBOUND_WEBHOOK_URL).example }];
  }),
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
