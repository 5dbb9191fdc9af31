import http from 'node:http';
import type { Queue, Worker } from 'bullmq';
import type { Config } from '../config';
import { Container, type ContainerOptions } from '../container';
import { CAMPAIGNS_QUEUE } from '../features/campaigns';
import { EVENT_DELIVERY_CONCURRENCY, eventKeys, EVENTS_QUEUE, OUTBOUND_EVENTS_QUEUE } from '../features/events';
import { OUTBOUND_CALLS_QUEUE, placementConcurrency } from '../features/outbound';
import { bearerMatches } from '../http/auth';
import { settleWithin } from '../http/timeout';
import { CALL_ACTIONS_QUEUE } from '../jobs/queues';
import { closeWorker, createBridgeWorker, jobsToTake, superviseWorker } from '../jobs/worker';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { createRedis, type RedisClient } from '../redis/connection';

export interface StartWorkerOptions {
  config: Config;
  logger: Logger;
  /** A metrics registry of the caller's (tests); one is made otherwise. */
  metrics?: Metrics;
  /** The waits between an event delivery's attempts (tests). @defaultValue about a day's schedule */
  eventRetryDelaysMs?: readonly number[];
  /**
   * How many placements the outbound worker runs at once (tests).
   * @defaultValue WORKER_CONCURRENCY plus room for the jobs waiting for their turn (placementConcurrency)
   */
  placementConcurrency?: number;
  /** Campaigns' clock, do-not-call check and tick (tests). */
  campaigns?: Pick<ContainerOptions, 'clock' | 'doNotCall' | 'campaignTickMs'>;
}

export interface RunningWorker {
  /** The call-action worker (transfers and hang-ups). */
  worker: Worker;
  /** Every worker of the process: call actions, outbound placements and, with an events endpoint, deliveries. */
  workers: Worker[];
  metrics: Metrics;
  /** Finishes running jobs (or hands them back) within `deadlineMs`, then closes connections. */
  close(deadlineMs?: number): Promise<'drained' | 'forced'>;
}

/** Builds the worker process's processors from config (the container) and starts taking jobs. */
export function startWorker(opts: StartWorkerOptions): RunningWorker {
  const { config, logger } = opts;
  const container = new Container({ config, logger, metrics: opts.metrics, eventRetryDelaysMs: opts.eventRetryDelaysMs, ...opts.campaigns });
  const { metrics } = container;
  const blocking = createRedis(config.redis, 'blocking', logger);
  metrics.watchRedis(blocking);
  let connected = false;
  blocking.once('ready', () => (connected = true));
  const handlers = container.workerHandlers();
  const common = { connection: blocking, redisPrefix: config.redis.prefix, concurrency: config.worker.concurrency, logger, metrics };
  // Placements wait for their turn in a worker's slot: room for those on top of the work.
  const placements = { ...common, concurrency: opts.placementConcurrency ?? placementConcurrency(config.worker.concurrency, config.outbound.cps) };

  const worker = createBridgeWorker({ ...common, queue: CALL_ACTIONS_QUEUE, handlers: handlers.callActions });
  // BullMQ's limiter is a counter under the queue's keys, so TWILIO_CPS holds for every worker process together:
  // the calls over the limit wait in our queue, where they can be seen and canceled, rather than in Twilio's.
  const workers: Worker[] = [worker, createBridgeWorker({ ...placements, queue: OUTBOUND_CALLS_QUEUE, handlers: handlers.outboundCalls, limiter: { max: config.outbound.cps, duration: 1000 } })];
  // Deliveries have a worker of their own, with its own concurrency: a receiver that is slow or down
  // holds up nothing but its own deliveries.
  if (handlers.events) {
    workers.push(
      createBridgeWorker({ ...common, queue: EVENTS_QUEUE, concurrency: EVENT_DELIVERY_CONCURRENCY, handlers: handlers.events, backoffStrategy: container.eventBackoff }),
    );
  }
  if (handlers.campaigns) workers.push(createBridgeWorker({ ...common, queue: CAMPAIGNS_QUEUE, handlers: handlers.campaigns }));
  const keeper = handlers.campaigns ? keepSchedulersUp(container, logger) : undefined;
  // A worker whose fetch loop got stuck (seen after a Redis Cluster failover) is replaced, on a fresh
  // blocking connection: call actions, outbound placements and the campaigns' queue.
  const extraConnections: RedisClient[] = [];
  const supervised = [
    { queue: container.queues.actions, handlers: handlers.callActions, limiter: undefined, options: common },
    { queue: container.queues.outbound, handlers: handlers.outboundCalls, limiter: { max: config.outbound.cps, duration: 1000 }, options: placements },
    ...(handlers.campaigns ? [{ queue: container.queues.campaigns, handlers: handlers.campaigns, limiter: undefined, options: common }] : []),
  ].flatMap(({ queue, handlers: h, limiter, options }) => {
    const first = workers.find((w) => w.name === queue.name);
    if (!first) return [];
    return [
      superviseWorker(first, {
        make: () => {
          const connection = createRedis(config.redis, 'blocking', logger);
          extraConnections.push(connection);
          return createBridgeWorker({ ...options, connection, queue: queue.name, handlers: h, ...(limiter ? { limiter } : {}) });
        },
        waiting: () => jobsToTake(queue as Queue),
        concurrency: options.concurrency,
        replaced: (next, previous) => workers.splice(workers.indexOf(previous), 1, next),
        logger,
      }),
    ];
  });
  if (handlers.outboundEvents) workers.push(createBridgeWorker({ ...common, queue: OUTBOUND_EVENTS_QUEUE, handlers: handlers.outboundEvents }));
  // The dispatcher blocks its connection while it waits for events: one of its own.
  const dispatcherRedis = handlers.events ? createRedis(config.redis, 'blocking', logger) : undefined;
  const dispatcher = dispatcherRedis ? container.eventDispatcher(dispatcherRedis) : undefined;
  dispatcher?.start();
  if (dispatcher && container.queues.events) {
    const queue = container.queues.events;
    const stream = eventKeys(config.redis.prefix).stream;
    metrics.trackEventBacklog(async () => {
      const [length, counts] = await Promise.all([container.queueRedis.xlen(stream), queue.getJobCounts('waiting', 'delayed')]);
      return { stream: length, waiting: counts.waiting ?? 0, delayed: counts.delayed ?? 0 };
    });
  }

  const metricsServer = config.worker.metricsPort ? serveMetrics(metrics, config.worker.metricsPort, config.ops.metricsToken, logger) : undefined;
  logger.info({ concurrency: config.worker.concurrency, cps: config.outbound.cps }, 'worker started');
  return {
    worker,
    workers,
    metrics,
    async close(deadlineMs = 20_000) {
      metricsServer?.close();
      keeper?.stop();
      for (const s of supervised) s.stop();
      // No new deliveries once the round under way is dispatched; what is left stays in the stream.
      if (dispatcher) await settleWithin(dispatcher.stop(), 3000);
      dispatcherRedis?.disconnect();
      // Workers that never reached Redis never took a job: there is nothing to drain or wait for.
      if (!connected) await settleWithin(Promise.all(workers.map((w) => w.close(true))), 1000);
      const outcomes = connected ? await Promise.all(workers.map((w) => closeWorker(w, deadlineMs, logger))) : [];
      blocking.disconnect();
      for (const c of extraConnections) c.disconnect();
      await container.close();
      return outcomes.every((o) => o === 'drained') ? 'drained' : 'forced';
    },
  };
}

/** How often each worker re-asserts the job schedulers (the campaign tick, the outbound sweep). @defaultValue 30000 ms */
export const SCHEDULERS_KEPT_EVERY_MS = 30_000;

/**
 * The job schedulers live in Redis, one for every worker, each keeping exactly one next job queued. A
 * failover can lose that job (replication is asynchronous: the promoted replica may not have the
 * iteration the old master queued last), and with it every later one: BullMQ only queues the next
 * iteration when one runs. So every worker upserts them at start (until Redis takes them) and again
 * every SCHEDULERS_KEPT_EVERY_MS: an upsert with the same settings replaces the queued iteration at the
 * same time, or queues the next one when it is missing.
 */
function keepSchedulersUp(container: Container, logger: Logger): { stop(): void } {
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const upsert = async () => {
    try {
      await Promise.all([container.scheduleCampaignTicks(), container.scheduleOutboundSweep()]);
      if (failing) logger.info('job schedulers restored');
      failing = false;
    } catch (err) {
      if (!failing) logger.error({ err: (err as Error).message }, 'could not schedule the campaign tick and outbound sweep: trying again every 5 s');
      failing = true;
    }
    if (!stopped) timer = setTimeout(() => void upsert(), failing ? 5000 : SCHEDULERS_KEPT_EVERY_MS).unref();
  };
  void upsert();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** A worker has no web app; this small server lets Prometheus scrape its job counters (with METRICS_TOKEN, as the web's). */
function serveMetrics(metrics: Metrics, port: number, token: string | undefined, logger: Logger): http.Server {
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics' && token && !bearerMatches(req.headers.authorization, token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain' }).end('bearer token missing or wrong');
    } else if (req.url === '/metrics') {
      void metrics.prometheus.metrics().then((body) => res.writeHead(200, { 'content-type': metrics.prometheus.contentType }).end(body));
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(port, () => logger.info({ port }, 'worker metrics listening'));
  return server;
}
