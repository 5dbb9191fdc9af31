import http from 'node:http';
import type { Worker } from 'bullmq';
import { CallActions } from '../calls/actions';
import type { Config } from '../config';
import { CallActionProcessor } from '../jobs/call-action-processor';
import { closeWorker, createCallActionWorker } from '../jobs/call-action-worker';
import type { Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { createRedis } from '../redis/connection';
import { createTwilioClient } from '../twilio/client';

export interface StartWorkerOptions {
  config: Config;
  logger: Logger;
  /** A metrics registry of the caller's (tests); one is made otherwise. */
  metrics?: Metrics;
}

export interface RunningWorker {
  worker: Worker;
  metrics: Metrics;
  /** Finishes running jobs (or hands them back) within `deadlineMs`, then closes connections. */
  close(deadlineMs?: number): Promise<'drained' | 'forced'>;
}

/** Builds the worker process's dependencies from config and starts taking jobs. */
export function startWorker(opts: StartWorkerOptions): RunningWorker {
  const { config, logger } = opts;
  const metrics = opts.metrics ?? new Metrics();
  const blocking = createRedis(config.redis, 'blocking', logger);
  const records = createRedis(config.redis, 'request', logger);
  metrics.watchRedis(blocking);
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
  const metricsServer = config.worker.metricsPort ? serveMetrics(metrics, config.worker.metricsPort, logger) : undefined;
  logger.info({ concurrency: config.worker.concurrency }, 'worker started');
  return {
    worker,
    metrics,
    async close(deadlineMs = 20_000) {
      metricsServer?.close();
      const outcome = await closeWorker(worker, deadlineMs, logger);
      blocking.disconnect();
      await records.quit().catch(() => records.disconnect());
      return outcome;
    },
  };
}

/** A worker has no web app; this small server lets Prometheus scrape its job counters. */
function serveMetrics(metrics: Metrics, port: number, logger: Logger): http.Server {
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
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
