import { Queue } from 'bullmq';
import type { RedisClient } from '../../redis/connection';
import { withTimeout } from '../../http/timeout';
import { queuePrefix } from '../../jobs/queues';

/**
 * The campaigns' own queue: the scheduler's tick (a BullMQ job scheduler, so exactly one tick is queued
 * at a time across every worker, and a killed worker's tick is taken over) and each attempt's end; the
 * outbound sweep (calls whose final status is overdue, looked at Twilio) runs on it too.
 */
export const CAMPAIGNS_QUEUE = 'campaigns';

/** How often the scheduler looks for due tasks. @defaultValue 1000 ms */
export const TICK_EVERY_MS = 1000;

export const TICK_SCHEDULER_ID = 'campaign-tick';

/** An attempt's outbound call ended: record it, then retry or finish the task. */
export interface AttemptEndedJob {
  campaignId: string;
  taskId: string;
  outboundId: string;
}

export type CampaignQueue = Queue<AttemptEndedJob | Record<string, never>, unknown, string>;

export function createCampaignQueue(connection: RedisClient, redisPrefix: string): CampaignQueue {
  return new Queue(CAMPAIGNS_QUEUE, {
    connection,
    prefix: queuePrefix(redisPrefix),
    defaultJobOptions: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    },
  });
}

export const endedJobId = (outboundId: string) => `ended-${outboundId}`;

/** Queues the processing of an attempt's end: one write on the callback's path; a repeat is a no-op. */
export async function addAttemptEnded(queue: CampaignQueue, job: AttemptEndedJob, timeoutMs = 2000): Promise<void> {
  await withTimeout(queue.add('ended', job, { jobId: endedJobId(job.outboundId) }), timeoutMs, `queue did not accept the job within ${timeoutMs} ms`);
}

/** Starts (or keeps) the tick; every worker calls it, the scheduler stays one. */
export async function scheduleTicks(queue: CampaignQueue, everyMs = TICK_EVERY_MS): Promise<void> {
  await queue.upsertJobScheduler(TICK_SCHEDULER_ID, { every: everyMs }, { name: 'tick', data: {}, opts: { removeOnComplete: true, removeOnFail: { count: 100 }, attempts: 1 } });
}
