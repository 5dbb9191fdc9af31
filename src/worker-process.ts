import type { Worker } from 'bullmq';
import { CallActions } from './calls/actions';
import type { Config } from './config';
import { CallActionProcessor } from './jobs/call-action-processor';
import { closeWorker, createCallActionWorker } from './jobs/worker';
import type { Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { createRedis } from './redis/connection';
import { createTwilioClient } from './twilio/client';

export interface RunningWorker {
  worker: Worker;
  metrics: Metrics;
  /** Finishes running jobs (or hands them back) within `deadlineMs`, then closes connections. */
  close(deadlineMs?: number): Promise<'drained' | 'forced'>;
}

/** Builds the worker process's dependencies from config and starts taking jobs. */
export function startWorker(config: Config, logger: Logger, metrics = new Metrics()): RunningWorker {
  const blocking = createRedis(config.redis, 'blocking', logger, (up) => metrics.redisUp.set(up ? 1 : 0));
  const records = createRedis(config.redis, 'request', logger);
  const processor = new CallActionProcessor({
    twilio: createTwilioClient(config.twilio),
    actions: new CallActions(records, config.redis.prefix),
    logger,
    metrics,
  });
  const worker = createCallActionWorker({
    connection: blocking,
    redisPrefix: config.redis.prefix,
    concurrency: config.worker.concurrency,
    processor,
    logger,
    metrics,
  });
  logger.info({ concurrency: config.worker.concurrency }, 'worker started');
  return {
    worker,
    metrics,
    async close(deadlineMs = 20_000) {
      const outcome = await closeWorker(worker, deadlineMs, logger);
      blocking.disconnect();
      await records.quit().catch(() => records.disconnect());
      return outcome;
    },
  };
}
