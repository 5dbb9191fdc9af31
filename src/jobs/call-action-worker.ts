import { Worker } from 'bullmq';
import { isUnreachableError, type RedisClient } from '../redis/connection';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { CallActionProcessor, CallActionResult } from './call-action-processor';
import type { WarmTransferProcessor, WarmTransferResult } from './warm-transfer-processor';
import { settleWithin } from '../http/timeout';
import type { AgentNotices } from './agent-notice';
import type { CancelResult, OutboundCanceler } from './outbound-cancel';
import { CALL_ACTIONS_QUEUE, isWarmTransferStep, queuePrefix, type AgentNoticeJob, type CallActionJob, type OutboundCancelJob, type CallActionStepJob, type WarmTransferStepJob } from './call-action-job';
import type { Job } from 'bullmq';

/**
 * Lock and stall timing. Call actions take well under a second, and a caller is waiting, so a job
 * whose worker died must be taken over quickly, not after BullMQ's default 30-60 s. BullMQ's stall
 * check first marks an active job as suspect, then requeues it on a later pass if its lock has
 * expired, so the takeover comes within lockDuration + 2 × stalledInterval (≤ 12 s here). The lock
 * is renewed every 3 s while a job runs, so a live worker keeps it unless its event loop is starved
 * for 6 s; a shorter lock made a busy machine's healthy workers look dead.
 */
export const WORKER_TIMING = {
  /** @defaultValue 6000 (BullMQ: 30000) */
  lockDuration: 6000,
  /** @defaultValue 3000 (BullMQ: 30000) */
  stalledInterval: 3000,
  /** Jobs that stall this many times (crash loops) fail instead of running forever. @defaultValue 2 */
  maxStalledCount: 2,
} as const;

export interface CallActionWorkerOptions {
  /** A blocking connection (`maxRetriesPerRequest: null`), used by this worker alone. */
  connection: RedisClient;
  redisPrefix: string;
  concurrency: number;
  processor: CallActionProcessor;
  /** The steps of warm transfers, which share the queue. */
  warmTransfers: WarmTransferProcessor;
  /** Notices to agents whose action failed. */
  notices: AgentNotices;
  /** Cancels of ringing outbound calls. */
  cancels: OutboundCanceler;
  logger: Logger;
  metrics: Metrics;
}

export function createCallActionWorker(opts: CallActionWorkerOptions): Worker<CallActionJob, CallActionResult | WarmTransferResult | CancelResult | 'agent_told' | 'agent_gone'> {
  const { logger, metrics } = opts;
  const run = (job: Job<CallActionJob>) => {
    if (job.data.kind === 'agent_notice') return opts.notices.process(job as Job<AgentNoticeJob>);
    if (job.data.kind === 'outbound_cancel') return opts.cancels.process(job as Job<OutboundCancelJob>);
    if (isWarmTransferStep(job.data)) return opts.warmTransfers.process(job as Job<WarmTransferStepJob>);
    return opts.processor.process(job as Job<CallActionStepJob>);
  };
  const worker = new Worker<CallActionJob, CallActionResult | WarmTransferResult | CancelResult | 'agent_told' | 'agent_gone'>(CALL_ACTIONS_QUEUE, run, {
    connection: opts.connection,
    prefix: queuePrefix(opts.redisPrefix),
    concurrency: opts.concurrency,
    ...WORKER_TIMING,
  });
  observeWorker(worker, logger, metrics);
  return worker;
}

/** Job counters and logs for any of the bridge's workers. */
export function observeWorker(worker: Worker, logger: Logger, metrics: Metrics): void {
  worker.on('completed', (job) => metrics.jobs.inc({ name: job.name, result: 'completed' }));
  worker.on('failed', (job, err) => {
    const final = !job || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    metrics.jobs.inc({ name: job?.name ?? 'unknown', result: final ? 'failed' : 'retried' });
  });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled (its worker stopped): requeued'));
  // An unhandled 'error' event would crash the process; an unreachable Redis is reported by the connection.
  worker.on('error', (err) => isUnreachableError(err) || logger.error({ err }, 'worker error'));
}

/**
 * Stops taking jobs and lets running ones finish, for at most `deadlineMs`. Past that (or when Redis
 * is gone and BullMQ's close cannot complete), the worker is closed by force: its running jobs keep
 * their locks until they expire, then another worker takes them over, so none is lost.
 */
export async function closeWorker(worker: Worker, deadlineMs: number, logger: Logger): Promise<'drained' | 'forced'> {
  if (await settleWithin(worker.close(), deadlineMs)) return 'drained';
  logger.warn({ deadlineMs }, 'worker did not drain in time: closing by force; its jobs will be retried elsewhere');
  await settleWithin(worker.close(true), 1000);
  return 'forced';
}
