import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import type Retell from 'retell-sdk';
import { CallActions } from './calls/actions';
import { CallAnswerer } from './calls/answerer';
import { CallLifecycle } from './calls/lifecycle';
import { CallRegistry } from './calls/registry';
import type { Config } from './config';
import { CallFunctions } from './functions/call-functions';
import { errorHandler } from './http/errors';
import type { CallActionQueue } from './jobs/queue';
import type { Logger } from './observability/logger';
import type { Metrics } from './observability/metrics';
import { requestObserver } from './observability/requests';
import { healthRoutes } from './routes/health';
import { retellFunctionRoutes } from './routes/retell-functions';
import { retellWebhookRoutes } from './routes/retell-webhook';
import { twilioRoutes } from './routes/twilio';

export interface AppDeps {
  config: Config;
  /** Fail-fast connection for the request path (no offline queue, short command timeout). */
  redis: Redis;
  retell: Retell;
  /** Producer for transfers and hang-ups, on its own connection. */
  queue: CallActionQueue;
  logger: Logger;
  metrics: Metrics;
}

/** Builds the web app from its dependencies; no I/O happens here. */
export function createApp(deps: AppDeps): Express {
  const { config, redis, retell, queue, logger, metrics } = deps;
  const registry = new CallRegistry(redis, config.redis.prefix);
  const answerer = new CallAnswerer({ config, registry, retell, logger });
  const actions = new CallActions(redis, config.redis.prefix);
  const functions = new CallFunctions({ config, registry, actions, queue, logger });
  const lifecycle = new CallLifecycle(redis, config.redis.prefix);

  metrics.watchRedis(redis);
  metrics.trackQueue(queue);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(requestObserver(logger, metrics));

  app.use(healthRoutes(redis));
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(twilioRoutes({ config, answerer, registry, lifecycle, logger, metrics }));
  app.use(retellFunctionRoutes({ apiKey: config.retell.apiKey, functions, logger, metrics }));
  app.use(
    retellWebhookRoutes({ apiKey: config.retell.apiKey, accountSid: config.twilio.accountSid, registry, lifecycle, logger, metrics }),
  );

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found');
  });
  app.use(errorHandler(logger));
  return app;
}
