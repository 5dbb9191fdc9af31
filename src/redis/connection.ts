import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger';

/**
 * How a connection behaves while Redis is away:
 * - `request`: the webhook path. Commands fail at once when disconnected and after 1.5 s when Redis
 *   stops answering, so the handler can fall back (connect the caller, answer 503) inside its budget.
 *   The timer runs on the event loop, so it must also ride out an overloaded process's lag: at 500 ms,
 *   a saturated web process took its own slowness for a dead Redis and answered without dedupe.
 * - `queue`: the web's BullMQ producer. BullMQ initialises a Queue once, when its connection first
 *   comes up, so commands may wait for a reconnect; the caller still bounds each add with its own timeout.
 * - `blocking`: BullMQ workers and queue events. Commands wait for the reconnect; BullMQ requires
 *   `maxRetriesPerRequest: null` here.
 */
export type ConnectionRole = 'request' | 'queue' | 'blocking';

export interface RedisSettings {
  url: string;
  /** Verify the server certificate on rediss:// URLs. Heroku Redis presents a self-signed one. */
  tlsRejectUnauthorized?: boolean;
}

export function redisOptions(settings: RedisSettings, role: ConnectionRole): RedisOptions {
  const tls = settings.url.startsWith('rediss://')
    ? { tls: { rejectUnauthorized: settings.tlsRejectUnauthorized ?? true } }
    : {};
  const common: RedisOptions = {
    connectionName: `bridge-${role}`,
    connectTimeout: 5000,
    // Reconnect quickly at first, never slower than every 2 s, and never give up.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    ...tls,
  };
  if (role === 'request') {
    return { ...common, enableOfflineQueue: false, commandTimeout: 1500, maxRetriesPerRequest: 1 };
  }
  if (role === 'queue') {
    return { ...common, enableOfflineQueue: true, commandTimeout: 2000, maxRetriesPerRequest: 1 };
  }
  return { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true };
}

/** Creates a client that logs its connection changes and never crashes the process with an error event. */
export function createRedis(settings: RedisSettings, role: ConnectionRole, logger: Logger): Redis {
  const redis = new Redis(settings.url, redisOptions(settings, role));
  let lastError = '';
  redis.on('ready', () => {
    lastError = '';
    logger.info({ role }, 'redis connected');
  });
  redis.on('error', (err: Error) => {
    // ioredis repeats the same error on every reconnect attempt; log each distinct one once.
    if (err.message === lastError) return;
    lastError = err.message;
    logger.error({ role, err: err.message }, 'redis connection error');
  });
  return redis;
}
