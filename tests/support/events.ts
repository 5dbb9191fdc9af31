import type { BridgeEvent } from '../../src/features/events';
import { eventKeys } from '../../src/features/events';
import type { TestBridge } from './bridge';

/** Settings that turn events on, so the bridge records them (nothing receives them in these tests). */
export const EVENTS_ENV = {
  EVENTS_WEBHOOK_URL: 'https://events.example.com/bridge',
  EVENTS_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
};

/**
 * The events the bridge recorded, oldest first: those the worker's dispatcher has stored, and those still
 * waiting in the stream for it (a bridge without a worker keeps them there).
 */
export async function recordedEvents(bridge: TestBridge): Promise<BridgeEvent[]> {
  const entries = await bridge.redis.xrange(eventKeys(bridge.config.redis.prefix).stream, '-', '+');
  const waiting = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1]!) as BridgeEvent);
  const stored = (await bridge.eventStore.list({ limit: 100 })).map((e) => ({ id: e.id, ...(JSON.parse(e.body) as Omit<BridgeEvent, 'id'>) }) as BridgeEvent);
  const byId = new Map([...stored, ...waiting].map((e) => [e.id, e]));
  return [...byId.values()].sort((a, b) => a.timestamp.localeCompare(b.timestamp));
}

/** The recorded events of one type. */
export async function eventsOf(bridge: TestBridge, type: string): Promise<BridgeEvent[]> {
  return (await recordedEvents(bridge)).filter((e) => e.type === type);
}
