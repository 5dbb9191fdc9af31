import express, { type Express } from 'express';
import type { Container } from '../container';
import { campaignRoutes } from '../features/campaigns';
import { doNotCallRoutes } from '../features/dnc';
import { eventsRoutes } from '../features/events';
import { inboundRoutes } from '../features/inbound';
import { lifecycleRoutes } from '../features/lifecycle';
import { callsRoutes, twilioOutboundRoutes } from '../features/outbound';
import { recordingRoutes } from '../features/recording';
import { smsRoutes } from '../features/sms';
import { twilioWarmTransferRoutes } from '../features/warm-transfer';
import { ByteBudget } from '../http/byte-budget';
import { requestObserver } from '../observability/requests';
import { retellFunctionRoutes } from '../retell/functions';
import { errorHandler } from './error-handler';
import { healthRoutes } from './health';
import { opsRoutes } from './ops';

/** What the web app is built from: the container's services, built once (see src/container.ts). */
export type AppServices = Pick<
  Container,
  | 'config'
  | 'logger'
  | 'metrics'
  | 'redis'
  | 'calls'
  | 'queues'
  | 'answerer'
  | 'warmTransfers'
  | 'outboundCallbacks'
  | 'outboundCalls'
  | 'campaigns'
  | 'functions'
  | 'callEnded'
  | 'events'
  | 'eventStore'
  | 'eventEndpoints'
  | 'texts'
  | 'optOut'
  | 'doNotCall'
>;

/**
 * The most request-body bytes held at once before their sender is authenticated (Twilio's form is read
 * to check its signature; a Retell body with a fresh, well-formed signature header is read to check the
 * HMAC). Each body has its own limit too; this bounds their sum, so a flood of forged requests cannot
 * push the process out of memory and drop every live call. Past it, requests get 503 and are retried.
 */
export const UNVERIFIED_BODY_BUDGET_BYTES = 32 * 1024 * 1024;

/** Builds the web app from built services; no I/O happens here. */
export function createApp(services: AppServices): Express {
  const { config, redis, calls, texts, optOut, doNotCall, queues, answerer, warmTransfers, outboundCallbacks, outboundCalls, campaigns, functions, callEnded, events, eventStore, eventEndpoints, logger, metrics } = services;
  const budget = new ByteBudget(UNVERIFIED_BODY_BUDGET_BYTES);

  metrics.watchRedis(redis);
  metrics.trackQueue(queues.actions);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(requestObserver(logger, metrics));

  // Twilio's webhooks first: the voice webhook is the busiest route and the one a caller waits on.
  app.use(inboundRoutes({ config, answerer, calls, onCallEnded: callEnded, budget, events, logger, metrics }));
  app.use(twilioOutboundRoutes({ config, answerer, callbacks: outboundCallbacks, onCallEnded: callEnded, budget, logger, metrics }));
  app.use(twilioWarmTransferRoutes({ config, callbacks: warmTransfers, budget, metrics }));
  app.use(recordingRoutes({ config, calls, events, budget, logger, metrics }));
  app.use(smsRoutes({ config, texts, events, onOptOut: optOut, budget, logger, metrics }));
  app.use(healthRoutes(redis));
  app.use(opsRoutes({ metrics, queues: queues.all, metricsToken: config.ops.metricsToken, adminPassword: config.ops.adminPassword }));
  if (outboundCalls && config.outbound.apiToken) app.use(callsRoutes({ apiToken: config.outbound.apiToken, calls: outboundCalls, metrics }));
  if (campaigns && config.outbound.apiToken) app.use(campaignRoutes({ apiToken: config.outbound.apiToken, campaigns, logger }));
  if (config.outbound.apiToken) app.use(eventsRoutes({ apiToken: config.outbound.apiToken, store: eventStore, queue: queues.events, endpoints: eventEndpoints, logger }));
  if (config.outbound.apiToken) app.use(doNotCallRoutes({ apiToken: config.outbound.apiToken, list: doNotCall, logger, metrics }));
  app.use(retellFunctionRoutes({ apiKey: config.retell.apiKey, functions, budget, metrics }));
  app.use(lifecycleRoutes({ config, onCallEnded: callEnded, budget, calls, events, logger, metrics }));

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found');
  });
  app.use(errorHandler(logger));
  return app;
}
