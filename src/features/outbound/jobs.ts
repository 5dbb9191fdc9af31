import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../../redis/connection';
import { withTimeout } from '../../http/timeout';
import { JOB_RETENTION, queueBase } from '../../jobs/queues';

/**
 * Outbound calls wait in a queue of their own, under the same hash-tagged prefix as the call actions:
 * its global limiter paces `calls.create` at TWILIO_CPS across every worker, so the queue of calls is
 * ours (visible, cancellable) rather than Twilio's.
 */
export const OUTBOUND_CALLS_QUEUE = 'outbound-calls';

/** Place the call of record `id`. Everything else about it is on the record. */
export interface PlaceCallJob {
  id: string;
}

/**
 * Placement retries: 429, 5xx and network errors, six attempts with exponential backoff from 1 s and
 * jitter, about 30 s at most. Waiting for Retell capacity does not count as an attempt.
 */
export const PLACE_JOB_OPTIONS: JobsOptions = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  ...JOB_RETENTION,
};

export type OutboundCallQueue = Queue<PlaceCallJob, unknown, 'place'>;

export function createOutboundCallQueue(connection: RedisClient, redisPrefix: string): OutboundCallQueue {
  return new Queue<PlaceCallJob, unknown, 'place'>(OUTBOUND_CALLS_QUEUE, {
    ...queueBase(connection, redisPrefix),
    defaultJobOptions: PLACE_JOB_OPTIONS,
  });
}

export const placeJobId = (id: string) => `place-${id}`;

/** Queues the placement; a repeat with the same id is a no-op in BullMQ. Fails within `timeoutMs` when Redis does not take it. */
export async function addPlaceCall(queue: OutboundCallQueue, id: string, timeoutMs = 2000): Promise<void> {
  await withTimeout(queue.add('place', { id }, { jobId: placeJobId(id) }), timeoutMs, `queue did not accept the call within ${timeoutMs} ms`);
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
