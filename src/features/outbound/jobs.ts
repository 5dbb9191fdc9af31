import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../../redis/connection';
import { outboundView, type OutboundRecord, type OutboundStatus } from './record';
import { withTimeout } from '../../http/timeout';
import { queuePrefix } from '../../jobs/queues';

/**
 * Outbound calls wait in a queue of their own, under the same hash-tagged prefix as the call actions:
 * its global limiter paces `calls.create` at TWILIO_CPS across every worker, so the queue of calls is
 * ours (visible, cancellable) rather than Twilio's.
 */
export const OUTBOUND_CALLS_QUEUE = 'outbound-calls';

/** Status changes posted to OUTBOUND_WEBHOOK_URL; no limiter, so a slow receiver never holds up dialing. */
export const OUTBOUND_EVENTS_QUEUE = 'outbound-events';

/** Place the call of record `id`. Everything else about it is on the record. */
export interface PlaceCallJob {
  id: string;
}

export interface OutboundEventJob {
  id: string;
  status: OutboundStatus;
  /** The JSON body, fixed when the status changed, so a retry sends the same bytes. */
  body: string;
}

/**
 * Placement retries: 429, 5xx and network errors, six attempts with exponential backoff from 1 s and
 * jitter, about 30 s at most. Waiting for Retell capacity does not count as an attempt.
 */
export const PLACE_JOB_OPTIONS: JobsOptions = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

/**
 * Webhook deliveries: eight attempts with exponential backoff from 2 s, about 4 minutes in all. A job
 * id per call and status keeps each status to one delivery, however often it is reported.
 */
export const EVENT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000, jitter: 0.3 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

export type OutboundCallQueue = Queue<PlaceCallJob, unknown, 'place'>;
export type OutboundEventQueue = Queue<OutboundEventJob, unknown, 'event'>;

export function createOutboundCallQueue(connection: RedisClient, redisPrefix: string): OutboundCallQueue {
  return new Queue<PlaceCallJob, unknown, 'place'>(OUTBOUND_CALLS_QUEUE, {
    connection,
    prefix: queuePrefix(redisPrefix),
    defaultJobOptions: PLACE_JOB_OPTIONS,
  });
}

export function createOutboundEventQueue(connection: RedisClient, redisPrefix: string): OutboundEventQueue {
  return new Queue<OutboundEventJob, unknown, 'event'>(OUTBOUND_EVENTS_QUEUE, {
    connection,
    prefix: queuePrefix(redisPrefix),
    defaultJobOptions: EVENT_JOB_OPTIONS,
  });
}

export const placeJobId = (id: string) => `place-${id}`;

/** Queues the placement; a repeat with the same id is a no-op in BullMQ. Fails within `timeoutMs` when Redis does not take it. */
export async function addPlaceCall(queue: OutboundCallQueue, id: string, timeoutMs = 2000): Promise<void> {
  await withTimeout(queue.add('place', { id }, { jobId: placeJobId(id) }), timeoutMs, `queue did not accept the call within ${timeoutMs} ms`);
}

/** The body posted for a status change: the call as GET /calls/{id} shows it. */
export function eventBody(record: OutboundRecord, status: OutboundStatus, retellCallId?: string): string {
  return JSON.stringify({
    event: status === 'ended' ? 'call_ended' : 'call_status',
    status,
    occurred_at: new Date().toISOString(),
    call: { ...outboundView(record, retellCallId), status },
  });
}

/** Queues the delivery of `status` for `record` (once per call and status); nothing without a queue (no OUTBOUND_WEBHOOK_URL). */
export async function queueOutboundEvent(
  queue: OutboundEventQueue | undefined,
  record: OutboundRecord,
  status: OutboundStatus,
  retellCallId?: string,
): Promise<void> {
  if (!queue) return;
  await withTimeout(
    queue.add('event', { id: record.id, status, body: eventBody(record, status, retellCallId) }, { jobId: `event-${record.id}-${status}` }),
    2000,
    'queue did not accept the webhook event within 2000 ms',
  );
}

/** Cancels a ringing outbound call at Twilio (DELETE /calls/{id}, or a cancel that came while it was placed). */
export interface OutboundCancelJob {
  kind: 'outbound_cancel';
  /** The outbound call's id (`out_…`). */
  id: string;
  callSid: string;
}

/** One cancel job per outbound call, however often it is asked for. */
export const cancelJobId = (id: string) => `cancel-${id}`;
