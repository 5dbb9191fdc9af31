import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router } from 'express';
import { requireBasicAuth, requireBearer } from '../http/auth';
import type { Metrics } from '../observability/metrics';

export const ADMIN_QUEUES_PATH = '/admin/queues';

export interface OpsRoutesDeps {
  metrics: Metrics;
  /** The queues Bull Board shows: call actions, outbound placements and their webhook events. */
  queues: readonly Queue[];
  /** When set, /metrics wants it as a bearer token. */
  metricsToken?: string;
  /** When set, Bull Board is served at /admin/queues behind basic auth; otherwise nothing is there. */
  adminPassword?: string;
}

/** The operator's endpoints: Prometheus metrics and, with a password, Bull Board for the job queue. */
export function opsRoutes(deps: OpsRoutesDeps): Router {
  const router = Router();
  const metricsAuth = deps.metricsToken ? [requireBearer(deps.metricsToken, 'metrics')] : [];
  router.get('/metrics', ...metricsAuth, async (_req, res) => {
    res.type(deps.metrics.prometheus.contentType).send(await deps.metrics.prometheus.metrics());
  });

  if (deps.adminPassword) {
    const board = new ExpressAdapter();
    board.setBasePath(ADMIN_QUEUES_PATH);
    createBullBoard({ queues: deps.queues.map((q) => new BullMQAdapter(q)), serverAdapter: board, options: { uiConfig: { boardTitle: 'twilio-retell-bridge' } } });
    router.use(ADMIN_QUEUES_PATH, requireBasicAuth(deps.adminPassword, 'twilio-retell-bridge admin'), board.getRouter());
  }
  return router;
}
