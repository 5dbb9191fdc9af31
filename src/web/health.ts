import { Router } from 'express';
import type { RedisClient } from '../redis/connection';
import { withTimeout } from '../http/timeout';

const READY_TIMEOUT_MS = 1000;

/** Liveness says the process answers; readiness says it can reach Redis too. */
export function healthRoutes(redis: RedisClient): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    try {
      await withTimeout(redis.ping(), READY_TIMEOUT_MS, 'timed out');
      res.json({ status: 'ready', redis: 'up' });
    } catch (err) {
      res.status(503).json({ status: 'not ready', redis: 'down', reason: (err as Error).message });
    }
  });
  return router;
}
