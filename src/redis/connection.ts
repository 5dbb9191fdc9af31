import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
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
 * - `blocking`: BullMQ workers and queue events. Commands wait for the reconnect, a Cluster's failover
 *   included; BullMQ requires `maxRetriesPerRequest: null` here.
 */
export type ConnectionRole = 'request' | 'queue' | 'blocking';

/** One Redis, a Sentinel-managed master, or a Cluster: the commands the bridge sends are the same. */
export type RedisClient = Redis | Cluster;

export interface RedisNode {
  host: string;
  port: number;
}

/**
 * Where Redis is. `url` is used unless `cluster` or `sentinel` is given (configuration allows one).
 * `username`, `password` and `tls` are for Cluster nodes and for the master Sentinel names; a URL
 * carries its own.
 */
export interface RedisSettings {
  url: string;
  cluster?: readonly RedisNode[];
  sentinel?: { nodes: readonly RedisNode[]; name: string; password?: string };
  username?: string;
  password?: string;
  /** TLS to the Cluster nodes, or to the sentinels and their master. @defaultValue false */
  tls?: boolean;
  /** Verify the server certificate when TLS is on. Heroku Redis presents a self-signed one. @defaultValue true */
  tlsRejectUnauthorized?: boolean;
}

/** Reconnect quickly at first, never slower than every 2 s, and never give up. */
const reconnectDelay = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/** What each role changes on a node connection (`offlineQueue` is the Cluster's own setting on a Cluster). */
function roleSettings(role: ConnectionRole): { offlineQueue: boolean; node: RedisOptions } {
  // No auto-pipelining: it saves 2.4 reads and 5.3 writes per voice webhook but costs 9 % more
  // instructions, and the web process's CPU per webhook showed no gain (BENCHMARKS.md).
  if (role === 'request') return { offlineQueue: false, node: { commandTimeout: 1500, maxRetriesPerRequest: 1 } };
  if (role === 'queue') return { offlineQueue: true, node: { commandTimeout: 2000, maxRetriesPerRequest: 1 } };
  return { offlineQueue: true, node: { maxRetriesPerRequest: null } };
}

/**
 * A replica answers writes with READONLY: a client still connected to a demoted master (a manual
 * Sentinel failover, a managed service's failover behind one DNS name) must reconnect to find the new
 * one. Roles that may wait resend the command there; the request path fails it and falls back.
 */
function readonlyReconnect(role: ConnectionRole): (err: Error) => 1 | 2 | false {
  const action = role === 'request' ? 1 : 2;
  return (err) => (err.message.startsWith('READONLY') ? action : false);
}

function tlsOptions(settings: RedisSettings): TlsOptions {
  return { rejectUnauthorized: settings.tlsRejectUnauthorized ?? true };
}

/** Options for a single-node client: from `url`, or the master found through `sentinel`. */
export function redisOptions(settings: RedisSettings, role: ConnectionRole): RedisOptions {
  const { offlineQueue, node } = roleSettings(role);
  const common: RedisOptions = {
    connectionName: `bridge-${role}`,
    connectTimeout: 5000,
    retryStrategy: reconnectDelay,
    reconnectOnError: readonlyReconnect(role),
    enableOfflineQueue: offlineQueue,
    ...node,
  };
  if (settings.sentinel) {
    const tls = settings.tls ? tlsOptions(settings) : undefined;
    return {
      ...common,
      sentinels: settings.sentinel.nodes.map((n) => ({ ...n })),
      name: settings.sentinel.name,
      sentinelPassword: settings.sentinel.password,
      username: settings.username,
      password: settings.password,
      // The sentinels and the master they name are reached the same way.
      ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    };
  }
  return settings.url.startsWith('rediss://') ? { ...common, tls: tlsOptions(settings) } : common;
}

/**
 * While a master is failed over, a Cluster client retries each command on the slot's next owner:
 * ioredis gives up after `maxRedirections` tries `retryDelayOnFailover` (or `retryDelayOnClusterDown`)
 * apart, 1.6 s by default. That suits the request path, which has its fallback; BullMQ's commands should
 * outlast a failover, which takes cluster-node-timeout plus an election (managed services: 15-30 s), so
 * on a blocking connection they keep trying for a minute.
 */
const WAIT_OUT_FAILOVER: ClusterOptions = { maxRedirections: 200, retryDelayOnFailover: 300, retryDelayOnClusterDown: 300 };

/** Options for a Cluster client. */
export function clusterOptions(settings: RedisSettings, role: ConnectionRole): ClusterOptions {
  const { offlineQueue, node } = roleSettings(role);
  return {
    enableOfflineQueue: offlineQueue,
    clusterRetryStrategy: reconnectDelay,
    ...(role === 'blocking' ? WAIT_OUT_FAILOVER : {}),
    redisOptions: {
      connectionName: `bridge-${role}`,
      connectTimeout: 5000,
      reconnectOnError: readonlyReconnect(role),
      username: settings.username,
      password: settings.password,
      ...(settings.tls ? { tls: tlsOptions(settings) } : {}),
      ...node,
    },
    // Certificates name the host, not the address it resolves to (ElastiCache, MemoryDB).
    ...(settings.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  };
}

/** A client for `settings` with no listeners: `createRedis` for the processes, and the tools, which print their own errors. */
export function newRedisClient(settings: RedisSettings, role: ConnectionRole): RedisClient {
  if (settings.cluster) return new Cluster(settings.cluster.map((n) => ({ ...n })), clusterOptions(settings, role));
  if (settings.sentinel) return new Redis(redisOptions(settings, role));
  return new Redis(settings.url, redisOptions(settings, role));
}

/** Where Redis is, for people: the URL with its password masked, or the Cluster's or Sentinel's nodes. */
export function describeRedis(settings: RedisSettings): string {
  const nodes = (list: readonly RedisNode[]) => list.map((n) => `${n.host}:${n.port}`).join(',');
  if (settings.cluster) return `Redis Cluster ${nodes(settings.cluster)}`;
  if (settings.sentinel) return `Sentinel master "${settings.sentinel.name}" via ${nodes(settings.sentinel.nodes)}`;
  return displayUrl(settings.url);
}

/** Socket-level failures: Redis cannot be reached, as opposed to Redis refusing a command. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

/** True when `err` says Redis cannot be reached (refused, unresolvable, timed out, dropped). */
export function isUnreachableError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && UNREACHABLE_CODES.has(code)) || /^(connect ETIMEDOUT|Connection is closed|Failed to refresh slots cache|All sentinels are unreachable)/.test(err.message);
}

/** How often an unreachable Redis is reported, per place, however many connections and queues see it. */
export const UNREACHABLE_REPORT_EVERY_MS = 30_000;
const lastUnreachableReport = new Map<string, number>();

function reportUnreachable(logger: Logger, settings: RedisSettings, err: Error): void {
  const where = describeRedis(settings);
  const now = Date.now();
  if (now - (lastUnreachableReport.get(where) ?? -Infinity) < UNREACHABLE_REPORT_EVERY_MS) return;
  lastUnreachableReport.set(where, now);
  const what = settings.cluster ? 'REDIS_CLUSTER_NODES' : settings.sentinel ? 'REDIS_SENTINELS' : 'REDIS_URL';
  logger.error(
    { redis: where, code: (err as NodeJS.ErrnoException).code },
    `redis unreachable at ${where}: start Redis there (redis-server) or set ${what} to a running one; retrying`,
  );
}

/**
 * Creates a client that logs its connection changes and never crashes the process with an error event.
 * While Redis cannot be reached, every client for the same place shares one line every 30 s.
 */
export function createRedis(settings: RedisSettings, role: ConnectionRole, logger: Logger): RedisClient {
  const redis = newRedisClient(settings, role);
  let lastError = '';
  redis.on('ready', () => {
    if (lastError) lastUnreachableReport.delete(describeRedis(settings));
    lastError = '';
    logger.info({ role }, 'redis connected');
  });
  redis.on('error', (err: Error) => {
    if (isUnreachableError(err)) {
      lastError = err.message;
      reportUnreachable(logger, settings, err);
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
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}
