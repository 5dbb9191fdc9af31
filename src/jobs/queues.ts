import { Queue, type JobsOptions } from 'bullmq';
import { withTimeout } from '../http/timeout';
import { queueTelemetry } from '../observability/tracing';
import type { RedisClient } from '../redis/connection';

/** BullMQ's key prefix: hash-tagged so every key of a queue lands in one Redis Cluster slot. */
export function queuePrefix(redisPrefix: string): string {
  return `{${redisPrefix}}`;
}

/**
 * What every queue and worker of the bridge is built on: its connection, the hash-tagged prefix, and,
 * while tracing is on, BullMQ's telemetry, which carries the adding span's context in each job to the
 * worker that runs it (bullmq-otel).
 */
export function queueBase(connection: RedisClient, redisPrefix: string): { connection: RedisClient; prefix: string; telemetry?: ReturnType<typeof queueTelemetry> } {
  const telemetry = queueTelemetry();
  return { connection, prefix: queuePrefix(redisPrefix), ...(telemetry ? { telemetry } : {}) };
}

/**
 * The queue of everything done to live calls: transfers, hang-ups, a warm transfer's steps, notices to
 * the agent, cancels of ringing outbound calls. No limiter: a caller is waiting on each.
 */
export const CALL_ACTIONS_QUEUE = 'call-actions';

/**
 * What every job of the call-actions queue carries. `kind` is the job's name and selects its processor;
 * each feature defines its own kinds and their data.
 */
export interface CallActionJobData {
  kind: string;
}

/**
 * How long finished jobs are kept: long enough to inspect and to make a late repeat of the same job id
 * a no-op (a day once done, a week once failed), then removed.
 */
export const JOB_RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
} as const satisfies JobsOptions;

/**
 * Retry policy for call actions: up to six attempts with exponential backoff from 300 ms and 50 %
 * jitter, to ride out a burst of 429s or a Twilio blip. What bounds an action in time is not this but
 * its effect's deadline (11 s from the agent's request, all attempts included): a caller is waiting.
 */
export const CALL_ACTION_JOB_OPTIONS: JobsOptions = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 300, jitter: 0.5 },
  ...JOB_RETENTION,
};

export type CallActionQueue = Queue<CallActionJobData, unknown, string>;

/** The producer side of the call-actions queue. */
export function createCallActionQueue(connection: RedisClient, redisPrefix: string): CallActionQueue {
  return new Queue<CallActionJobData, unknown, string>(CALL_ACTIONS_QUEUE, {
    ...queueBase(connection, redisPrefix),
    defaultJobOptions: CALL_ACTION_JOB_OPTIONS,
  });
}

/**
 * Adds a job under `jobId` (a repeat of the same id is a no-op in BullMQ), failing within `timeoutMs`
 * when Redis does not take it, so a webhook can answer 503 (and be retried) instead of hanging.
 */
export async function addCallAction<T extends CallActionJobData>(queue: CallActionQueue, job: T, jobId: string, timeoutMs = 2000): Promise<void> {
  await withTimeout(queue.add(job.kind, job, { jobId }), timeoutMs, `queue did not accept the job within ${timeoutMs} ms`);
}
