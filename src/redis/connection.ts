import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger';
import { displayUrl } from '../observability/redact';

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

/** Socket-level failures: Redis cannot be reached, as opposed to Redis refusing a command. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

/** True when `err` says Redis cannot be reached (refused, unresolvable, timed out, dropped). */
export function isUnreachableError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && UNREACHABLE_CODES.has(code)) || /^(connect ETIMEDOUT|Connection is closed)/.test(err.message);
}

/** How often an unreachable Redis is reported, per URL, however many connections and queues see it. */
export const UNREACHABLE_REPORT_EVERY_MS = 30_000;
const lastUnreachableReport = new Map<string, number>();

function reportUnreachable(logger: Logger, url: string, err: Error): void {
  const now = Date.now();
  if (now - (lastUnreachableReport.get(url) ?? -Infinity) < UNREACHABLE_REPORT_EVERY_MS) return;
  lastUnreachableReport.set(url, now);
  const where = displayUrl(url);
  logger.error(
    { redis: where, code: (err as NodeJS.ErrnoException).code },
    `redis unreachable at ${where}: start Redis there (redis-server) or set REDIS_URL to a running one; retrying`,
  );
}

/**
 * Creates a client that logs its connection changes and never crashes the process with an error event.
 * While Redis cannot be reached, every client on the same URL shares one line every 30 s.
 */
export function createRedis(settings: RedisSettings, role: ConnectionRole, logger: Logger): Redis {
  const redis = new Redis(settings.url, redisOptions(settings, role));
  let lastError = '';
  redis.on('ready', () => {
    if (lastError) lastUnreachableReport.delete(settings.url);
    lastError = '';
    logger.info({ role }, 'redis connected');
  });
  redis.on('error', (err: Error) => {
    if (isUnreachableError(err)) {
      lastError = err.message;
      reportUnreachable(logger, settings.url, err);
      return;
    }
    // ioredis repeats the same error on every reconnect attempt; log each distinct one once.
    if (err.message === lastError) return;
    lastError = err.message;
    logger.error({ role, err }, 'redis connection error');
  });
  return redis;
}

/**
 * Closes a client: politely (QUIT) when connected, at once otherwise, where QUIT would only wait for a
 * reconnect that may never come.
 */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}
