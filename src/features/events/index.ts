/**
 * Events: every fact of a call the bridge sees (started, ended, analysed, transfers, outbound progress,
 * and campaigns, recordings and texts), signed with Standard Webhooks and delivered to
 * EVENTS_WEBHOOK_URL with retries for about a day, listed by GET /events and redelivered on request.
 * Flows emit into the sink (one Redis write); the worker's dispatcher records each event and queues its
 * deliveries, one job per endpoint, on a queue of its own. OUTBOUND_WEBHOOK_URL is a second endpoint of
 * the same engine, in its own format.
 */
export {
  EVENT_TYPES,
  type CallIds,
  type EventPayloads,
  type EventSink,
  type PreparedEvent,
  type EventType,
  type OutboundData,
  type TransferData,
  type TransferFailure,
} from './catalog';
export { eventId, eventKeys, EVENT_STREAM_MAX_LENGTH, NO_EVENTS, StreamEventSink, typeFilter, type BridgeEvent } from './sink';
export { EventStore, eventStoreKeys, typesOf, type DeliveryRecord, type DeliveryStatus, type StoredEvent } from './store';
export { eventEndpoints, outboundWebhookBody, USER_AGENT, type EndpointName, type EventEndpoint } from './endpoints';
export {
  createEventQueue,
  DELIVERY_BACKOFF,
  DELIVERY_TIMEOUT_MS,
  deliveryBackoff,
  deliveryJobOptions,
  deliveryJobId,
  EVENT_DELIVERY_CONCURRENCY,
  EventDeliveries,
  EVENTS_QUEUE,
  OUTBOUND_EVENTS_QUEUE,
  RETRY_DELAYS_MS,
  retryDelay,
  WebhookPoster,
  type DeliveryJob,
  type EventQueue,
  type LegacyOutboundJob,
} from './delivery';
export { EventDispatcher, DISPATCH_GROUP } from './dispatcher';
export { eventsRoutes, eventView } from './routes';
export { EVENT_ID, redeliverEvent, type RedeliverDeps, type RedeliverResult } from './redeliver';
export { RETELL_CALL_MAX_BYTES, trimRetellCall } from './retell-call';
export { callData, emitCallEnded, metadataIds } from './facts';
export { describeEvent } from './describe';
