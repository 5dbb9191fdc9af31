import { Worker } from 'bullmq';
import type { RedisClient } from '../redis/connection';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { queuePrefix } from './call-action-job';
import { observeWorker, WORKER_TIMING } from './call-action-worker';
import type { OutboundEventSender } from './outbound-events';
import { OUTBOUND_CALLS_QUEUE, OUTBOUND_EVENTS_QUEUE, type OutboundEventJob, type PlaceCallJob } from './outbound-job';
import type { OutboundPlacer, PlaceResult } from './outbound-placer';

export interface OutboundWorkerOptions {
  /** A blocking connection (`maxRetriesPerRequest: null`); BullMQ makes each worker a blocking copy of its own. */
  connection: RedisClient;
  redisPrefix: string;
  concurrency: number;
  /** TWILIO_CPS: calls placed per second across every worker of the queue. */
  cps: number;
  placer: OutboundPlacer;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The placement worker. Its limiter is BullMQ's global one (a counter in Redis under the queue's
 * keys), so TWILIO_CPS holds for every worker process together: the calls over the limit wait in our
 * queue, where they can be seen and canceled, rather than in Twilio's.
 */
export function createOutboundCallWorker(opts: OutboundWorkerOptions): Worker<PlaceCallJob, PlaceResult> {
  const worker = new Worker<PlaceCallJob, PlaceResult>(OUTBOUND_CALLS_QUEUE, (job) => opts.placer.process(job), {
    connection: opts.connection,
    prefix: queuePrefix(opts.redisPrefix),
    concurrency: opts.concurrency,
    limiter: { max: opts.cps, duration: 1000 },
    ...WORKER_TIMING,
  });
  observeWorker(worker, opts.logger, opts.metrics);
  return worker;
}

export function createOutboundEventWorker(opts: {
  connection: RedisClient;
  redisPrefix: string;
  concurrency: number;
  sender: OutboundEventSender;
  logger: Logger;
  metrics: Metrics;
}): Worker<OutboundEventJob, 'delivered'> {
  const worker = new Worker<OutboundEventJob, 'delivered'>(OUTBOUND_EVENTS_QUEUE, (job) => opts.sender.process(job), {
    connection: opts.connection,
    prefix: queuePrefix(opts.redisPrefix),
    concurrency: opts.concurrency,
    ...WORKER_TIMING,
  });
  observeWorker(worker, opts.logger, opts.metrics);
  return worker;
}
