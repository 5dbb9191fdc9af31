import http from 'node:http';
import type { Worker } from 'bullmq';
import { CallRepository } from '../calls/repository';
import { WarmTransferProcessor } from '../jobs/warm-transfer-processor';
import { addCallAction, createCallActionQueue } from '../jobs/queue';
import { cancelJobId } from '../jobs/call-action-job';
import { OutboundCanceler } from '../jobs/outbound-cancel';
import { OutboundStore } from '../calls/outbound-store';
import type { Config } from '../config';
import { bearerMatches } from '../http/auth';
import { settleWithin } from '../http/timeout';
import { AgentNotices } from '../jobs/agent-notice';
import { CallActionProcessor } from '../jobs/call-action-processor';
import { closeWorker, createCallActionWorker } from '../jobs/call-action-worker';
import { OutboundEventSender } from '../jobs/outbound-events';
import { createOutboundCallQueue, createOutboundEventQueue } from '../jobs/outbound-job';
import { OutboundPlacer } from '../jobs/outbound-placer';
import { createOutboundCallWorker, createOutboundEventWorker } from '../jobs/outbound-workers';
import type { Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { closeRedis, createRedis, isUnreachableError } from '../redis/connection';
import { createRetellClient } from '../retell/client';
import { createTwilioClient } from '../twilio/client';

export interface StartWorkerOptions {
  config: Config;
  logger: Logger;
  /** A metrics registry of the caller's (tests); one is made otherwise. */
  metrics?: Metrics;
}

export interface RunningWorker {
  /** The call-action worker (transfers and hang-ups). */
  worker: Worker;
  /** Every worker of the process: call actions, outbound placements and, with OUTBOUND_WEBHOOK_URL, webhook events. */
  workers: Worker[];
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
  const producer = createRedis(config.redis, 'queue', logger);
  metrics.watchRedis(blocking);
  let connected = false;
  blocking.once('ready', () => (connected = true));
  const twilio = createTwilioClient(config.twilio, metrics);
  const prefix = config.redis.prefix;
  const common = { connection: blocking, redisPrefix: prefix, concurrency: config.worker.concurrency, logger, metrics };

  const calls = new CallRepository(records, prefix);
  const retell = createRetellClient(config.retell);
  // Jobs queue later steps: a warm transfer's outcome, a failed action's notice to the agent.
  const actionQueue = createCallActionQueue(producer, prefix);
  const processor = new CallActionProcessor({ twilio, calls, queue: actionQueue, logger, metrics });
  const warmTransfers = new WarmTransferProcessor({
    twilio,
    retell,
    calls,
    queue: actionQueue,
    config: {
      publicUrl: config.publicUrl,
      ringTimeoutS: config.warmTransfer.ringTimeoutS,
      holdMessage: config.warmTransfer.holdMessage,
      retellTimeoutMs: config.retell.timeoutMs,
    },
    logger,
    metrics,
  });
  // Placement queues webhook events and rate-limits its own queue while Retell is at capacity.
  const outboundQueue = createOutboundCallQueue(producer, prefix);
  const events = config.outbound.webhookUrl ? createOutboundEventQueue(producer, prefix) : undefined;
  const outboundStore = new OutboundStore(records, prefix);
  const notices = new AgentNotices({ retell, timeoutMs: config.retell.timeoutMs, logger });
  const cancels = new OutboundCanceler({ twilio, store: outboundStore, events, logger, metrics });
  const worker = createCallActionWorker({ ...common, processor, warmTransfers, notices, cancels });

  const producers = [actionQueue, outboundQueue, ...(events ? [events] : [])];
  // Unreachable Redis is reported by the connection itself, once every 30 s.
  for (const q of producers) q.on('error', (err) => isUnreachableError(err) || logger.error({ err, queue: q.name }, 'queue error'));
  const placer = new OutboundPlacer({
    twilio,
    retell,
    store: outboundStore,
    events,
    config: { publicUrl: config.publicUrl, reservedConcurrency: config.outbound.reservedConcurrency, cps: config.outbound.cps },
    rateLimit: (ms) => outboundQueue.rateLimit(ms),
    cancel: (id, callSid) => addCallAction(actionQueue, { kind: 'outbound_cancel', id, callSid }, cancelJobId(id)),
    logger,
    metrics,
  });
  const workers: Worker[] = [worker, createOutboundCallWorker({ ...common, cps: config.outbound.cps, placer })];
  if (config.outbound.webhookUrl && config.outbound.apiToken) {
    const sender = new OutboundEventSender({ url: config.outbound.webhookUrl, secret: config.outbound.apiToken, logger, metrics });
    workers.push(createOutboundEventWorker({ ...common, sender }));
  }

  const metricsServer = config.worker.metricsPort ? serveMetrics(metrics, config.worker.metricsPort, config.ops.metricsToken, logger) : undefined;
  logger.info({ concurrency: config.worker.concurrency, cps: config.outbound.cps }, 'worker started');
  return {
    worker,
    workers,
    metrics,
    async close(deadlineMs = 20_000) {
      metricsServer?.close();
      // Workers that never reached Redis never took a job: there is nothing to drain or wait for.
      if (!connected) await settleWithin(Promise.all(workers.map((w) => w.close(true))), 1000);
      const outcomes = connected ? await Promise.all(workers.map((w) => closeWorker(w, deadlineMs, logger))) : [];
      if (producer.status === 'ready') await settleWithin(Promise.all(producers.map((q) => q.close())), 2000);
      blocking.disconnect();
      await Promise.all([records, producer].map(closeRedis));
      return outcomes.every((o) => o === 'drained') ? 'drained' : 'forced';
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
