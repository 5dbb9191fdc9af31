import { orStoreUnavailable } from '../../calls/errors';
import { withTimeout } from '../../http/timeout';
import type { Logger } from '../../observability/logger';
import { deliveryJobId, type EventQueue } from './delivery';
import type { EventEndpoint } from './endpoints';
import type { EventStore } from './store';

/** An event's id as the bridge makes them (`evt_` and 20 to 40 base-36 characters). */
export const EVENT_ID = /^evt_[0-9a-z]{20,40}$/;

export interface RedeliverDeps {
  store: EventStore;
  /** Where redeliveries are queued; none when no endpoint is configured. */
  queue: EventQueue | undefined;
  endpoints: readonly EventEndpoint[];
  logger: Logger;
}

/** What asking for a redelivery did. */
export type RedeliverResult =
  | { kind: 'queued'; redelivery: number; endpoints: string[] }
  | { kind: 'not_found' }
  /** No configured endpoint takes events of this type. */
  | { kind: 'no_endpoint'; type: string }
  /** The queue did not take it in time: nothing was queued, asking again is safe. */
  | { kind: 'unavailable' };

/**
 * Delivers an event again, with the same webhook-id, to each endpoint that takes its type: its
 * deliveries not yet delivered go back to pending and one job per endpoint is queued under the
 * redelivery's number. `POST /events/{id}/redeliver` and the console's button both come here.
 */
export async function redeliverEvent(deps: RedeliverDeps, id: string): Promise<RedeliverResult> {
  const { store, endpoints, logger } = deps;
  if (!EVENT_ID.test(id)) return { kind: 'not_found' };
  const event = await orStoreUnavailable(() => store.get(id));
  if (!event) return { kind: 'not_found' };
  const targets = endpoints.filter((e) => e.wants(event.type));
  if (!deps.queue || targets.length === 0) return { kind: 'no_endpoint', type: event.type };
  const queue = deps.queue;
  const n = await orStoreUnavailable(() => store.redeliver(id, targets.map((t) => t.name)));
  if (n === null) return { kind: 'not_found' };
  try {
    await withTimeout(
      queue.addBulk(targets.map((t) => ({ name: 'deliver' as const, data: { eventId: id, endpoint: t.name, redelivery: n }, opts: { jobId: deliveryJobId(id, t.name, n) } }))),
      2000,
      'queue did not accept the redelivery within 2000 ms',
    );
  } catch (err) {
    logger.warn({ eventId: id, err: (err as Error).message }, 'redelivery not queued');
    return { kind: 'unavailable' };
  }
  const names = targets.map((t) => t.name);
  logger.info({ eventId: id, redelivery: n, endpoints: names }, 'event redelivery queued');
  return { kind: 'queued', redelivery: n, endpoints: names };
}
