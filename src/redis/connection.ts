import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger';

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

/** Creates a client that logs its connection changes and never crashes the process with an error event. */
export function createRedis(settings: RedisSettings, role: ConnectionRole, logger: Logger): RedisClient {
  const redis = settings.cluster
    ? new Cluster(settings.cluster.map((n) => ({ ...n })), clusterOptions(settings, role))
    : settings.sentinel
      ? new Redis(redisOptions(settings, role))
      : new Redis(settings.url, redisOptions(settings, role));
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
