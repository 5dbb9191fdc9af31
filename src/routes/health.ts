import { Router } from 'express';
import type { Redis } from 'ioredis';

const READY_TIMEOUT_MS = 1000;

/** Liveness says the process answers; readiness says it can reach Redis too. */
export function healthRoutes(redis: Redis): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        redis.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
        }),
      ]);
      res.json({ status: 'ready', redis: 'up' });
    } catch (err) {
      res.status(503).json({ status: 'not ready', redis: 'down', reason: (err as Error).message });
    } finally {
      clearTimeout(timer);
    }
  });
  return router;
}
