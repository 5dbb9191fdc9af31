import type { Container } from '../../src/container';
import type { RedisClient } from '../../src/redis/connection';
import type { CallRepository } from '../../src/calls/repository';
import { ConfigError, loadConfig, type Config } from '../../src/config';
import type { OutboundCallQueue } from '../../src/features/outbound/jobs';
import type { CallActionQueue } from '../../src/jobs/queues';
import type { EventQueue, EventSink, EventStore } from '../../src/features/events';
import { Metrics } from '../../src/observability/metrics';
import { startWeb, type HttpLimits } from '../../src/web/start';
import { startWorker, type RunningWorker } from '../../src/worker/start';
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { memoryLogger } from './logs';
import { deletePrefix, namesRedisTopology, TEST_REDIS_URL, uniquePrefix, waitReady } from './redis';
import { ACCOUNT_SID, AUTH_TOKEN } from './twilio-signing';

export const RETELL_KEY = 'key_test_0123456789abcdef';
export const PUBLIC_URL = 'https://bridge.example.com';
/**
 * A public origin for runs with NODE_ENV=production, which refuses reserved example domains such as
 * PUBLIC_URL's (the suite's own NODE_ENV=test accepts them). Nothing ever connects to it.
 */
export const PRODUCTION_PUBLIC_URL = 'https://my-bridge.herokuapp.com';

/** What a start with the test settings plus `env` would refuse, as `VARIABLE problem` lines (none: it starts). */
export function configProblems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(testEnv(env));
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.variable} ${p.problem}`);
  }
}

export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    PUBLIC_URL,
    REDIS_URL: TEST_REDIS_URL,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    RETELL_API_KEY: RETELL_KEY,
    RETELL_AGENT_ID: 'agent_default',
    RETELL_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'debug',
    ...overrides,
  };
}

export interface TestBridge {
  /** Where the test sends requests (loopback). */
  url: string;
  config: Config;
  redis: RedisClient;
  calls: CallRepository;
  retell: FakeRetell;
  twilio: FakeTwilioApi;
  queue: CallActionQueue;
  outboundQueue: OutboundCallQueue;
  /** The web's event sink, store, and deliveries' queue (with an events endpoint only). */
  events: EventSink;
  eventStore: EventStore;
  eventQueue: EventQueue | undefined;
  metrics: Metrics;
  /** The web's composition root (its stores and services, e.g. to build a worker-side service in a test). */
  container: Container;
  /** The in-process worker, when started with `{ worker: true }`. */
  worker?: RunningWorker;
  workerLines: string[];
  lines: string[];
  close(): Promise<void>;
}

/**
 * Starts the real web app on a free port, against the shared Redis (own prefix) and a fake Retell API.
 * `redisUrl`, or `env` naming a Cluster or Sentinels (REDIS_CLUSTER_NODES, REDIS_SENTINELS), points it
 * at a Redis of the test's own instead, which the test cleans up.
 */
export async function startBridge(
  env: Record<string, string | undefined> = {},
  opts: {
    redisUrl?: string;
    worker?: boolean;
    limits?: Partial<HttpLimits>;
    eventRetryDelaysMs?: readonly number[];
    /** Campaigns' clock, do-not-call check and scheduler tick, for the web and the worker alike. */
    campaigns?: { clock?: () => number; doNotCall?: (numbers: string[]) => Promise<boolean[]>; campaignTickMs?: number };
  } = {},
): Promise<TestBridge> {
  const ownRedis = opts.redisUrl !== undefined || namesRedisTopology(env);
  const retell = await new FakeRetell(RETELL_KEY).start();
  const twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
  const prefix = uniquePrefix('web');
  const topology = namesRedisTopology(env) ? { REDIS_URL: undefined } : {};
  const loaded = loadConfig(
    testEnv({ RETELL_BASE_URL: retell.url, TWILIO_API_BASE_URL: twilio.url, REDIS_PREFIX: prefix, ...topology, ...env }),
  );
  const config = opts.redisUrl ? { ...loaded, redis: { ...loaded.redis, url: opts.redisUrl } } : loaded;
  const { logger, lines } = memoryLogger(config.logLevel);
  const web = await startWeb({ config, logger, port: 0, host: '127.0.0.1', limits: opts.limits, overrides: { metrics: new Metrics({ defaultMetrics: false }), clock: opts.campaigns?.clock, doNotCall: opts.campaigns?.doNotCall } });
  web.container.queues.actions.on('error', () => undefined);
  // The callee requests the URLs the bridge gives Twilio (PUBLIC_URL), signed as such, on loopback.
  twilio.callee.deliverTo = web.url;
  if (!opts.redisUrl) await waitReady(web.container.redis);
  const workerLog = memoryLogger(config.logLevel);
  const worker = opts.worker
    ? startWorker({ config, logger: workerLog.logger, metrics: new Metrics({ defaultMetrics: false }), eventRetryDelaysMs: opts.eventRetryDelaysMs, campaigns: opts.campaigns })
    : undefined;
  return {
    url: web.url,
    config,
    redis: web.container.redis,
    calls: web.container.calls,
    retell,
    twilio,
    queue: web.container.queues.actions,
    outboundQueue: web.container.queues.outbound,
    events: web.container.events,
    eventStore: web.container.eventStore,
    eventQueue: web.container.queues.events,
    metrics: web.container.metrics,
    container: web.container,
    worker,
    workerLines: workerLog.lines,
    lines,
    async close() {
      web.server.closeAllConnections();
      await Promise.all([web.close(), worker?.close(5000)]);
      await retell.stop();
      await twilio.stop();
      if (!ownRedis) await deletePrefix(prefix);
    },
  };
}
