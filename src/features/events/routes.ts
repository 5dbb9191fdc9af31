import type { Router, Response } from 'express';
import { z } from 'zod';
import { orStoreUnavailable } from '../../calls/errors';
import { apiRouter, notFound } from '../../http/api';
import { parseOr400 } from '../../http/validate';
import type { Logger } from '../../observability/logger';
import { EVENT_TYPES } from './catalog';
import type { EventQueue } from './delivery';
import type { EventEndpoint } from './endpoints';
import { redeliverEvent } from './redeliver';
import { MAX_LIST_LIMIT, typesOf, type DeliveryRecord, type EventStore, type StoredEvent } from './store';

const listQuery = z.looseObject({
  type: z
    .string({ error: 'type must be given once' })
    .refine((t) => typesOf(t).length > 0, `type must be an event type (${EVENT_TYPES.join(', ')}) or a prefix ending in * such as call.*`)
    .optional(),
  since: z
    .string({ error: 'since must be given once' })
    .refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), 'since must be an ISO 8601 time such as 2026-12-02T10:15:00Z')
    .transform((s) => Date.parse(s))
    .optional(),
  limit: z
    .string({ error: 'limit must be given once' })
    .regex(/^\d{1,3}$/, `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_LIST_LIMIT, `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`)
    .optional(),
});

export interface EventsRoutesDeps {
  apiToken: string;
  store: EventStore;
  /** Where redeliveries are queued; none when no endpoint is configured. */
  queue: EventQueue | undefined;
  endpoints: readonly EventEndpoint[];
  logger: Logger;
}

/** An event as GET /events shows it: the body's fields, and its delivery (EVENTS_WEBHOOK_URL's, else OUTBOUND_WEBHOOK_URL's). */
export function eventView(event: StoredEvent, endpoints: readonly string[]) {
  const body = JSON.parse(event.body) as { type: string; timestamp: string; data: unknown };
  const names = [...endpoints, ...Object.keys(event.deliveries)].filter((n, i, all) => all.indexOf(n) === i && event.deliveries[n]);
  const view = (d: DeliveryRecord) => ({
    status: d.status,
    attempts: d.attempts,
    ...(d.lastAt ? { last_attempt_at: d.lastAt } : {}),
    ...(d.last ? { last_answer: d.last } : {}),
    ...(d.deliveredAt ? { delivered_at: d.deliveredAt } : {}),
  });
  const first = names[0] ? event.deliveries[names[0]] : undefined;
  return {
    id: event.id,
    type: body.type,
    timestamp: body.timestamp,
    data: body.data,
    delivery: first ? view(first) : { status: 'pending', attempts: 0 },
    ...(names.length > 1 ? { deliveries: Object.fromEntries(names.map((n) => [n, view(event.deliveries[n]!)])) } : {}),
  };
}

/**
 * `GET /events` (the recent events, newest first) and `POST /events/{id}/redeliver` (delivered again, with
 * the same webhook-id), behind `Authorization: Bearer <API_TOKEN>`. Mounted with API_TOKEN only.
 */
export function eventsRoutes(deps: EventsRoutesDeps): Router {
  const { store, endpoints, logger } = deps;
  const { router, auth } = apiRouter('/events', deps.apiToken);
  const names = endpoints.map((e) => e.name);

  router.get('/events', auth, async (req, res) => {
    const q = parseOr400(listQuery, req.query);
    const events = await orStoreUnavailable(() => store.list({ type: q.type, since: q.since, limit: q.limit }));
    res.json({ events: events.map((e) => eventView(e, names)) });
  });

  router.post('/events/:id/redeliver', auth, async (req, res) => {
    const id = String(req.params.id);
    const result = await redeliverEvent(deps, id);
    if (result.kind === 'not_found') return eventNotFound(res);
    if (result.kind === 'no_endpoint') {
      res.status(409).json({ error: 'no_endpoint', reason: `no configured endpoint takes ${result.type} events (EVENTS_WEBHOOK_URL, EVENTS_TYPES)` });
      return;
    }
    if (result.kind === 'unavailable') {
      res.status(503).json({ error: 'unavailable', reason: 'the queue did not take the redelivery; try again' });
      return;
    }
    res.status(202).json({ id, redelivery: result.redelivery, endpoints: result.endpoints });
  });

  return router;
}

function eventNotFound(res: Response): void {
  notFound(res, 'no event with this id (events are kept for EVENTS_RETENTION_HOURS)');
}
