import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { createApp } from '../../src/app';
import { CallActions } from '../../src/calls/actions';
import { CallRegistry } from '../../src/calls/registry';
import { loadConfig, type Config } from '../../src/config';
import { createCallActionQueue, type CallActionQueue } from '../../src/jobs/queue';
import { Metrics } from '../../src/observability/metrics';
import { createRedis } from '../../src/redis/connection';
import { createRetellClient } from '../../src/retell/client';
import { startWorker, type RunningWorker } from '../../src/worker-process';
import { FakeRetell } from '../fakes/retell';
import { FakeTwilioApi } from '../fakes/twilio-api';
import { memoryLogger } from './logs';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix, waitReady } from './redis';
import { ACCOUNT_SID, AUTH_TOKEN } from './twilio-signing';

export const RETELL_KEY = 'key_test_0123456789abcdef';
export const PUBLIC_URL = 'https://bridge.example.com';

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
  redis: Redis;
  registry: CallRegistry;
  actions: CallActions;
  retell: FakeRetell;
  twilio: FakeTwilioApi;
  queue: CallActionQueue;
  metrics: Metrics;
  /** The in-process worker, when started with `{ worker: true }`. */
  worker?: RunningWorker;
  workerLines: string[];
  lines: string[];
  close(): Promise<void>;
}

/** Starts the real web app on a free port, against the shared Redis (own prefix) and a fake Retell API. */
export async function startBridge(
  env: Record<string, string | undefined> = {},
  opts: { redisUrl?: string; worker?: boolean } = {},
): Promise<TestBridge> {
  const retell = await new FakeRetell(RETELL_KEY).start();
  const twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
  const prefix = uniquePrefix('web');
  const config = loadConfig(
    testEnv({ RETELL_BASE_URL: retell.url, TWILIO_API_BASE_URL: twilio.url, REDIS_PREFIX: prefix, ...env }),
  );
  const { logger, lines } = memoryLogger(config.logLevel);
  const redisUrl = opts.redisUrl ?? config.redis.url;
  const redis = createRedis({ url: redisUrl }, 'request', logger);
  const queueRedis = createRedis({ url: redisUrl }, 'queue', logger);
  if (!opts.redisUrl) await waitReady(redis);
  const queue = createCallActionQueue(queueRedis, config.redis.prefix);
  queue.on('error', () => undefined);
  const metrics = new Metrics({ defaultMetrics: false });
  const app = createApp({ config, redis, retell: createRetellClient(config.retell), queue, logger, metrics });
  const workerLog = memoryLogger(config.logLevel);
  const worker = opts.worker
    ? startWorker({ ...config, redis: { ...config.redis, url: redisUrl } }, workerLog.logger, new Metrics({ defaultMetrics: false }))
    : undefined;
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    config,
    redis,
    registry: new CallRegistry(redis, prefix),
    actions: new CallActions(redis, prefix),
    retell,
    twilio,
    queue,
    metrics,
    worker,
    workerLines: workerLog.lines,
    lines,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker?.close(5000);
      await Promise.race([queue.close(), new Promise((r) => setTimeout(r, 1000))]).catch(() => undefined);
      await retell.stop();
      await twilio.stop();
      if (!opts.redisUrl) await deletePrefix(prefix);
      redis.disconnect();
      queueRedis.disconnect();
    },
  };
}
