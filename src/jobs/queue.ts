import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/connection';
import { withTimeout } from '../http/timeout';
import { CALL_ACTIONS_QUEUE, queuePrefix, type CallActionJob } from './call-action-job';

/**
 * Retry policy for call actions: up to six attempts with exponential backoff from 300 ms and 50 %
 * jitter, to ride out a burst of 429s or a Twilio blip. What bounds an action in time is not this but
 * the processor's ACTION_DEADLINE_MS (12 s from the agent's request, all attempts included): a caller
 * is waiting on the line.
 */
export const CALL_ACTION_JOB_OPTIONS: JobsOptions = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 300, jitter: 0.5 },
  // Kept long enough to inspect and to make a late repeat of the same job id a no-op, then removed.
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

export type CallActionQueue = Queue<CallActionJob, unknown, CallActionJob['kind']>;

/** The producer side, used by the web process. */
export function createCallActionQueue(connection: RedisClient, redisPrefix: string): CallActionQueue {
  return new Queue<CallActionJob, unknown, CallActionJob['kind']>(CALL_ACTIONS_QUEUE, {
    connection,
    prefix: queuePrefix(redisPrefix),
    defaultJobOptions: CALL_ACTION_JOB_OPTIONS,
  });
}

/**
 * Adds a job, failing within `timeoutMs` when Redis does not take it, so a function call can answer
 * 503 (Retell retries) instead of hanging until Retell's own timeout.
 */
export async function addCallAction(queue: CallActionQueue, job: CallActionJob, jobId: string, timeoutMs = 2000): Promise<void> {
  await withTimeout(queue.add(job.kind, job, { jobId }), timeoutMs, `queue did not accept the job within ${timeoutMs} ms`);
}
