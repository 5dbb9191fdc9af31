import express, { type Express } from 'express';
import type { RedisClient } from '../redis/connection';
import type Retell from 'retell-sdk';
import { CallRepository } from '../calls/repository';
import type { Config } from '../config';
import type { Twilio } from 'twilio';
import { OutboundStore } from '../calls/outbound-store';
import { ByteBudget } from '../http/byte-budget';
import type { OutboundCallQueue, OutboundEventQueue } from '../jobs/outbound-job';
import type { CallActionQueue } from '../jobs/queue';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { requestObserver } from '../observability/requests';
import { CallAnswerer } from '../services/call-answerer';
import { CallFunctions } from '../services/call-functions';
import { OutboundCallbacks } from '../services/outbound-callbacks';
import { WarmTransferCallbacks } from '../services/warm-transfer-callbacks';
import { twilioWarmTransferRoutes } from './routes/twilio-warm-transfer';
import { OutboundCalls } from '../services/outbound-calls';
import type { LookupHook } from '../services/lookup-hook';
import { errorHandler } from './error-handler';
import { callsRoutes } from './routes/calls';
import { healthRoutes } from './routes/health';
import { opsRoutes } from './routes/ops';
import { retellFunctionRoutes } from './routes/retell-functions';
import { retellWebhookRoutes } from './routes/retell-webhook';
import { twilioRoutes } from './routes/twilio';
import { twilioOutboundRoutes } from './routes/twilio-outbound';

export interface AppDeps {
  config: Config;
  /** Fail-fast connection for the request path (no offline queue, short command timeout). */
  redis: RedisClient;
  retell: Retell;
  /** Producer for transfers and hang-ups, on its own connection. */
  queue: CallActionQueue;
  /** Producers for outbound calls and their webhook events (the latter only with OUTBOUND_WEBHOOK_URL). */
  outbound: { queue: OutboundCallQueue; events: OutboundEventQueue | undefined };
  /** Twilio's REST API, for canceling a ringing outbound call. */
  twilio: Twilio;
  logger: Logger;
  metrics: Metrics;
  /** The client of INBOUND_WEBHOOK_URL, when it is set. */
  lookupHook?: LookupHook;
}

/**
 * The most request-body bytes held at once before their sender is authenticated (Twilio's form is read
 * to check its signature; a Retell body with a fresh, well-formed signature header is read to check the
 * HMAC). Each body has its own limit too; this bounds their sum, so a flood of forged requests cannot
 * push the process out of memory and drop every live call. Past it, requests get 503 and are retried.
 */
export const UNVERIFIED_BODY_BUDGET_BYTES = 32 * 1024 * 1024;

/** Builds the web app from its dependencies; no I/O happens here. */
export function createApp(deps: AppDeps): Express {
  const { config, redis, retell, queue, outbound, logger, metrics, lookupHook } = deps;
  const prefix = config.redis.prefix;
  const calls = new CallRepository(redis, prefix);
  const outboundStore = new OutboundStore(redis, prefix);
  const answerer = new CallAnswerer({ config, calls, retell, logger, metrics, lookupHook });
  const functions = new CallFunctions({ config, calls, queue, logger });
  const callbacks = new OutboundCallbacks({
    accountSid: config.twilio.accountSid,
    store: outboundStore,
    answerer,
    calls,
    actionQueue: queue,
    events: outbound.events,
    logger,
    metrics,
  });

  const warmTransfers = new WarmTransferCallbacks({ config, calls, queue, logger });

  const budget = new ByteBudget(UNVERIFIED_BODY_BUDGET_BYTES);

  metrics.watchRedis(redis);
  metrics.trackQueue(queue);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(requestObserver(logger, metrics));

  // Twilio's webhooks first: the voice webhook is the busiest route and the one a caller waits on.
  app.use(twilioRoutes({ config, answerer, calls, warmTransfers, budget, logger, metrics }));
  app.use(twilioOutboundRoutes({ config, answerer, callbacks, warmTransfers, budget, logger, metrics }));
  app.use(twilioWarmTransferRoutes({ config, callbacks: warmTransfers, budget, metrics }));
  app.use(healthRoutes(redis));
  const queues = [queue, outbound.queue, ...(outbound.events ? [outbound.events] : [])];
  app.use(opsRoutes({ metrics, queues, metricsToken: config.ops.metricsToken, adminPassword: config.ops.adminPassword }));
  if (config.outbound.apiToken) {
    const outboundCalls = new OutboundCalls({ config, store: outboundStore, calls, queue: outbound.queue, actionQueue: queue, events: outbound.events, logger, metrics });
    app.use(callsRoutes({ apiToken: config.outbound.apiToken, calls: outboundCalls, metrics }));
  }
  app.use(retellFunctionRoutes({ apiKey: config.retell.apiKey, functions, budget, logger, metrics }));
  app.use(retellWebhookRoutes({ apiKey: config.retell.apiKey, accountSid: config.twilio.accountSid, budget, calls, logger, metrics }));

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found');
  });
  app.use(errorHandler(logger));
  return app;
}
