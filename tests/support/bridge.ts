import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { createApp } from '../../src/app';
import { CallRegistry } from '../../src/calls/registry';
import { loadConfig, type Config } from '../../src/config';
import { Metrics } from '../../src/observability/metrics';
import { createRedis } from '../../src/redis/connection';
import { createRetellClient } from '../../src/retell/client';
import { FakeRetell } from '../fakes/retell';
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
  retell: FakeRetell;
  metrics: Metrics;
  lines: string[];
  close(): Promise<void>;
}

/** Starts the real web app on a free port, against the shared Redis (own prefix) and a fake Retell API. */
export async function startBridge(env: Record<string, string | undefined> = {}, opts: { redisUrl?: string } = {}): Promise<TestBridge> {
  const retell = await new FakeRetell(RETELL_KEY).start();
  const prefix = uniquePrefix('web');
  const config = loadConfig(testEnv({ RETELL_BASE_URL: retell.url, REDIS_PREFIX: prefix, ...env }));
  const { logger, lines } = memoryLogger(config.logLevel);
  const redis = createRedis({ url: opts.redisUrl ?? config.redis.url }, 'request', logger);
  if (!opts.redisUrl) await waitReady(redis);
  const metrics = new Metrics({ defaultMetrics: false });
  const app = createApp({ config, redis, retell: createRetellClient(config.retell), logger, metrics });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    config,
    redis,
    registry: new CallRegistry(redis, prefix),
    retell,
    metrics,
    lines,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await retell.stop();
      if (!opts.redisUrl) await deletePrefix(prefix);
      redis.disconnect();
    },
  };
}
