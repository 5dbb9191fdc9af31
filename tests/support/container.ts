import type { Worker } from 'bullmq';
import { loadConfig } from '../../src/config';
import { Container } from '../../src/container';
import { CALL_ACTIONS_QUEUE } from '../../src/jobs/queues';
import { createBridgeWorker } from '../../src/jobs/worker';
import { Metrics } from '../../src/observability/metrics';
import { createRedis } from '../../src/redis/connection';
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { testEnv, RETELL_KEY } from './bridge';
import { memoryLogger } from './logs';
import { deletePrefix, uniquePrefix, waitReady } from './redis';
import { ACCOUNT_SID, AUTH_TOKEN } from './twilio-signing';

export interface TestContainer {
  container: Container;
  twilio: FakeTwilioApi;
  retell: FakeRetell;
  /** Starts a real BullMQ worker on the call-actions queue with the container's handlers. */
  startCallActionWorker(): Worker;
  close(): Promise<void>;
}

/**
 * The composition root on its own, without HTTP: services and processors built from config exactly as
 * the processes build them, against the real Redis (a prefix of the test's own) and the fake Twilio and
 * Retell APIs.
 */
export async function testContainer(env: Record<string, string | undefined> = {}): Promise<TestContainer> {
  const retell = await new FakeRetell(RETELL_KEY).start();
  const twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
  const prefix = uniquePrefix('container');
  const config = loadConfig(testEnv({ RETELL_BASE_URL: retell.url, TWILIO_API_BASE_URL: twilio.url, REDIS_PREFIX: prefix, ...env }));
  const { logger } = memoryLogger('silent');
  const container = new Container({ config, logger, metrics: new Metrics({ defaultMetrics: false }) });
  // The request path's connection fails fast instead of queueing commands: let it connect first.
  await waitReady(container.redis);
  const workers: Worker[] = [];
  const blocking = createRedis(config.redis, 'blocking', logger);
  return {
    container,
    twilio,
    retell,
    startCallActionWorker() {
      const worker = createBridgeWorker({
        queue: CALL_ACTIONS_QUEUE,
        connection: blocking,
        redisPrefix: prefix,
        concurrency: 5,
        handlers: container.workerHandlers().callActions,
        logger,
        metrics: container.metrics,
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      blocking.disconnect();
      await container.close();
      await retell.stop();
      await twilio.stop();
      await deletePrefix(prefix);
    },
  };
}
