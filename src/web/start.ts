import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type Retell from 'retell-sdk';
import type { Config } from '../config';
import { settleWithin } from '../http/timeout';
import { createCallActionQueue, type CallActionQueue } from '../jobs/queue';
import type { Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { createRedis, type RedisClient } from '../redis/connection';
import { createRetellClient } from '../retell/client';
import { createApp } from './app';

export interface StartWebOptions {
  config: Config;
  logger: Logger;
  /** Where to listen. @defaultValue `config.port` on every interface; tests pass 0 and 127.0.0.1. */
  port?: number;
  host?: string;
  /** Replacements for what would be built from `config` (tests: a metrics registry of their own). */
  overrides?: { metrics?: Metrics; retell?: Retell };
}

export interface RunningWeb {
  server: http.Server;
  /** Where the server listens, e.g. `http://127.0.0.1:43127`. */
  url: string;
  redis: RedisClient;
  queue: CallActionQueue;
  metrics: Metrics;
  /** Stops accepting, lets in-flight requests finish, then closes Redis. */
  close(): Promise<void>;
}

/** Builds the web process's dependencies from config and starts listening. */
export async function startWeb(opts: StartWebOptions): Promise<RunningWeb> {
  const { config, logger } = opts;
  const metrics = opts.overrides?.metrics ?? new Metrics();
  const redis = createRedis(config.redis, 'request', logger);
  const queueRedis = createRedis(config.redis, 'queue', logger);
  const queue = createCallActionQueue(queueRedis, config.redis.prefix);
  queue.on('error', (err) => logger.error({ err: err.message }, 'queue error'));
  const retell = opts.overrides?.retell ?? createRetellClient(config.retell);
  const app = createApp({ config, redis, retell, queue, logger, metrics });
  const server = http.createServer(app);
  // Longer than a router's idle timeout (Heroku 55 s, Render 60 s+), so the router closes idle sockets first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? config.port, opts.host, resolve));
  const { port } = server.address() as AddressInfo;
  logger.info({ port, publicUrl: config.publicUrl }, 'web listening');
  return {
    server,
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    redis,
    queue,
    metrics,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() only drops connections idle at that moment; a keep-alive connection whose request is
      // still running goes idle later and would hold the server open until the platform's SIGKILL.
      const reaper = setInterval(() => server.closeIdleConnections(), 100);
      await closed;
      clearInterval(reaper);
      // BullMQ's close waits on Redis; with Redis gone it would never return.
      await settleWithin(queue.close(), 2000);
      await Promise.all([redis, queueRedis].map((r) => r.quit().catch(() => r.disconnect())));
    },
  };
}
