/**
 * Events: every fact of a call the bridge sees (started, ended, analysed, transfers, outbound progress,
 * and campaigns, recordings and texts), signed with Standard Webhooks and delivered to
 * EVENTS_WEBHOOK_URL with retries for about a day, listed by GET /events and redelivered on request.
 */
export { EVENT_TYPES, type CallIds, type EventPayloads, type EventSink, type EventType } from './catalog';
export { eventId, eventKeys, EVENT_STREAM_MAX_LENGTH, NO_EVENTS, StreamEventSink, typeFilter, type BridgeEvent } from './sink';
