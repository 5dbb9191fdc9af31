import { Webhook } from 'standardwebhooks';
import type { Config } from '../../config';
import { signRetellBody } from '../../retell/signature';
import type { OutboundData } from './catalog';
import { typeFilter } from './sink';

/** Sent with every delivery, so a receiver's logs say where a request came from. */
export const USER_AGENT = 'twilio-retell-bridge-events/1';

/** The endpoints events go to: EVENTS_WEBHOOK_URL (`events`) and OUTBOUND_WEBHOOK_URL (`outbound`). */
export type EndpointName = 'events' | 'outbound';

/** One attempt's request. */
export interface DeliveryRequest {
  body: string;
  headers: Record<string, string>;
}

/**
 * A receiver of events: which types it takes, how each attempt is written and signed, and which answers
 * end the retries. Deliveries to every endpoint run through the same jobs, schedule and store.
 */
export interface EventEndpoint {
  /** Its name in job ids, delivery records and metrics. */
  name: EndpointName;
  url: string;
  wants(type: string): boolean;
  /** The request for an attempt at `at` of the event `id` whose stored body is `body`. */
  request(id: string, body: string, at: Date): DeliveryRequest;
  /** Whether an answer with this (non-2xx) status ends the retries: the receiver will never take it. */
  refusesForGood(status: number): boolean;
}

/**
 * EVENTS_WEBHOOK_URL: Standard Webhooks. The stored body as it is; `webhook-id` is the event's id on every
 * attempt (the receiver's idempotency key), `webhook-timestamp` the attempt's time, and
 * `webhook-signature` the `standardwebhooks` package's own signature of the three. Only 410 Gone stops
 * the retries, as the specification asks.
 */
export function standardWebhooksEndpoint(url: string, secret: string, types: readonly string[]): EventEndpoint {
  const signer = new Webhook(secret);
  return {
    name: 'events',
    url,
    wants: typeFilter(types),
    request(id, body, at) {
      return {
        body,
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signer.sign(id, at, body),
        },
      };
    },
    refusesForGood: (status) => status === 410,
  };
}

/** The body OUTBOUND_WEBHOOK_URL has always received for an outbound event: the call as GET /calls/{id} shows it. */
export function outboundWebhookBody(body: string): string {
  const event = JSON.parse(body) as { timestamp: string; data: OutboundData };
  const { status, call } = event.data;
  return JSON.stringify({ event: status === 'ended' ? 'call_ended' : 'call_status', status, occurred_at: event.timestamp, call });
}

/** OUTBOUND_WEBHOOK_URL's endpoint, which also signs bodies written by earlier versions (their queued jobs). */
export interface OutboundEndpoint extends EventEndpoint {
  name: 'outbound';
  /** The request for a body already in OUTBOUND_WEBHOOK_URL's format. */
  signed(body: string): DeliveryRequest;
}

/**
 * OUTBOUND_WEBHOOK_URL, as documented before events existed: the outbound events only, in their own body,
 * signed `X-Bridge-Signature` with API_TOKEN (Retell's scheme). Retried on 408, 429, 5xx and no answer;
 * any other answer is final, since the receiver would refuse the same bytes again.
 */
export function outboundWebhookEndpoint(url: string, apiToken: string): OutboundEndpoint {
  const signed = (body: string): DeliveryRequest => ({
    body,
    headers: { 'content-type': 'application/json', 'user-agent': 'twilio-retell-bridge', 'x-bridge-signature': signRetellBody(body, apiToken) },
  });
  return {
    name: 'outbound',
    url,
    wants: (type) => type === 'outbound.status' || type === 'outbound.completed',
    request: (_id, body) => signed(outboundWebhookBody(body)),
    signed,
    refusesForGood: (status) => !(status === 408 || status === 429 || status >= 500),
  };
}

/** The endpoints `config` names, in the order GET /events reports their deliveries. */
export function eventEndpoints(config: Pick<Config, 'events' | 'outbound'>): EventEndpoint[] {
  const out: EventEndpoint[] = [];
  const { webhookUrl, secret, types } = config.events;
  if (webhookUrl && secret) out.push(standardWebhooksEndpoint(webhookUrl, secret, types));
  if (config.outbound.webhookUrl && config.outbound.apiToken) out.push(outboundWebhookEndpoint(config.outbound.webhookUrl, config.outbound.apiToken));
  return out;
}
