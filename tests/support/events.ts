import type { BridgeEvent } from '../../src/features/events';
import { eventKeys } from '../../src/features/events';
import type { TestBridge } from './bridge';

/** Settings that turn events on, so the bridge records them (nothing receives them in these tests). */
export const EVENTS_ENV = {
  EVENTS_WEBHOOK_URL: 'https://events.example.com/bridge',
  EVENTS_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
};

/** The events the bridge recorded, oldest first, as the worker's delivery will read them. */
export async function recordedEvents(bridge: TestBridge): Promise<BridgeEvent[]> {
  const entries = await bridge.redis.xrange(eventKeys(bridge.config.redis.prefix).stream, '-', '+');
  return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1]!) as BridgeEvent);
}

/** The recorded events of one type. */
export async function eventsOf(bridge: TestBridge, type: string): Promise<BridgeEvent[]> {
  return (await recordedEvents(bridge)).filter((e) => e.type === type);
}
