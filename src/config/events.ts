/** Events to the user's backend (Standard Webhooks): where they go, the signing secret, which types, how long they are kept. */
import { z } from 'zod';
import { problemWith, rule, setting, type ValuesOf } from './parse';
import { httpsInProduction } from './server';
import { httpUrl, notPlaceholder, wholeNumber } from './values';

export const title = 'Events';

/** Event types as the catalogue names them (`call.started`), or a prefix ending in `*` (`call.*`). */
const EVENT_PATTERN = /^[a-z]+(\.[a-z_]+)*(\.\*)?$|^\*$/;

export const settings = {
  EVENTS_WEBHOOK_URL: setting(httpUrl.optional(), {
    description: 'Receives every event of every call (Standard Webhooks: signed, retried for about a day); off when unset',
    example: 'https://api.example.com/bridge/events',
    deploy: { how: 'optional', heroku: 'Receives every event of every call as Standard Webhooks JSON, signed with EVENTS_WEBHOOK_SECRET and retried for about a day.' },
    docs: { meaning: 'receives every [event](events.md) of every call (Standard Webhooks: signed, retried for about a day); https in production' },
    dotenv: {
      comment: 'Events (see docs/events.md): every fact of every call, posted as Standard Webhooks JSON, signed and retried\nfor about a day. Off when empty; must be https with NODE_ENV=production.',
      paragraph: true,
    },
  }),
  EVENTS_WEBHOOK_SECRET: setting(
    notPlaceholder(z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be whsec_ followed by base64, as Standard Webhooks secrets are'))
      .refine((s) => {
        const bytes = Buffer.from(s.slice('whsec_'.length), 'base64').length;
        return bytes >= 24 && bytes <= 64;
      }, 'must hold 24 to 64 random bytes in base64: generate one with echo whsec_$(openssl rand -base64 32)')
      .optional(),
    {
      description:
        'Standard Webhooks secret that signs each event: whsec_ followed by 24-64 random bytes in base64 (echo whsec_$(openssl rand -base64 32)); required with EVENTS_WEBHOOK_URL',
      example: 'whsec_<openssl rand -base64 32>',
      secret: true,
    },
  ),
  EVENTS_TYPES: setting(
    z
      .string()
      .default('*')
      .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(EVENT_PATTERN, 'entries must be event types such as call.started, or prefixes ending in * such as call.*')).min(1, 'must name at least one event type, or *')),
    {
      description: 'Comma-separated event types, or prefixes ending in * (call.*), to send; all when empty',
      example: 'call.*,transfer.failed',
      deploy: { how: 'optional' },
      docs: { default: 'all' },
    },
  ),
  EVENTS_RETENTION_HOURS: setting(wholeNumber({ unit: 'hours', min: 1, minMessage: 'must be at least 1', max: 24 * 90, maxMessage: 'must be at most 2160 (90 days)', default: 72 }), {
    description: 'Hours events and their delivery records are kept for GET /events and redelivery (deliveries retry for about a day within them)',
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  rule(settings, ['EVENTS_WEBHOOK_URL', 'EVENTS_WEBHOOK_SECRET'], (e) => {
    if (e.EVENTS_WEBHOOK_URL && !e.EVENTS_WEBHOOK_SECRET) {
      return [problemWith(settings, 'EVENTS_WEBHOOK_SECRET', "is required with EVENTS_WEBHOOK_URL: the receiver checks each event's signature with it")];
    }
    if (!e.EVENTS_WEBHOOK_URL && e.EVENTS_WEBHOOK_SECRET) return [{ variable: 'EVENTS_WEBHOOK_SECRET', problem: 'is set without EVENTS_WEBHOOK_URL: set the URL that receives the events' }];
    return [];
  }),
  // Every call's numbers and outcomes go to the receiver.
  httpsInProduction(settings, 'EVENTS_WEBHOOK_URL', "every call's numbers and outcomes"),
];

export function toConfig(e: Values) {
  return {
    events: {
      webhookUrl: e.EVENTS_WEBHOOK_URL,
      secret: e.EVENTS_WEBHOOK_SECRET,
      types: e.EVENTS_TYPES as readonly string[],
      retentionMs: e.EVENTS_RETENTION_HOURS * 3600 * 1000,
    },
  };
}
