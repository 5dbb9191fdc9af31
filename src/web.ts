import http from 'node:http';
import { createApp } from './app';
import { createCallActionQueue } from './jobs/queue';
import type { Config } from './config';
import type { Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { createRedis } from './redis/connection';
import { createRetellClient } from './retell/client';

export interface RunningWeb {
  server: http.Server;
  /** Stops accepting, lets in-flight requests finish, then closes Redis. */
  close(): Promise<void>;
}

/** Builds the web process's dependencies from config and starts listening. */
export async function startWeb(config: Config, logger: Logger): Promise<RunningWeb> {
  const metrics = new Metrics();
  const redis = createRedis(config.redis, 'request', logger);
  const queueRedis = createRedis(config.redis, 'queue', logger);
  const queue = createCallActionQueue(queueRedis, config.redis.prefix);
  queue.on('error', (err) => logger.error({ err: err.message }, 'queue error'));
  const app = createApp({ config, redis, retell: createRetellClient(config.retell), queue, logger, metrics });
  const server = http.createServer(app);
  // Longer than a router's idle timeout (Heroku 55 s, Render 60 s+), so the router closes idle sockets first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve) => server.listen(config.port, resolve));
  logger.info({ port: config.port, publicUrl: config.publicUrl }, 'web listening');
  return {
    server,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() only drops connections idle at that moment; a keep-alive connection whose request is
      // still running goes idle later and would hold the server open until the platform's SIGKILL.
      const reaper = setInterval(() => server.closeIdleConnections(), 100);
      await closed;
      clearInterval(reaper);
      // BullMQ's close waits on Redis; with Redis gone it would never return.
      await Promise.race([queue.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
      await Promise.all([redis, queueRedis].map((r) => r.quit().catch(() => r.disconnect())));
    },
  };
}
