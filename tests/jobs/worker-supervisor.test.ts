import { Queue, Worker } from 'bullmq';
import { createBridgeWorker, superviseWorker } from '../../src/jobs/worker';
import { jobsToTake } from '../../src/jobs/worker';
import { Metrics } from '../../src/observability/metrics';
import { createRedis } from '../../src/redis/connection';
import { settleWithin } from '../../src/http/timeout';
import { memoryLogger } from '../support/logs';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis';
import { waitFor } from '../support/wait';

/**
 * A worker whose fetch loop is stuck (as BullMQ's can stay after a Redis Cluster failover) is replaced
 * on a fresh connection; a worker that is merely idle, or busy, is left alone. Real Redis and BullMQ.
 */
jest.setTimeout(30_000);

describe('superviseWorker', () => {
  const prefix = uniquePrefix('worker-supervisor');
  const settings = { url: TEST_REDIS_URL };
  const { logger, lines } = memoryLogger('info');
  const metrics = new Metrics({ defaultMetrics: false });
  const connections = [createRedis(settings, 'blocking', logger)];
  const queue = new Queue('supervised', { connection: createRedis(settings, 'queue', logger), prefix: `{${prefix}}` });
  const workers: Worker[] = [];
  const done: string[] = [];
  const make = () => {
    const connection = createRedis(settings, 'blocking', logger);
    connections.push(connection);
    const w = createBridgeWorker({ queue: 'supervised', connection, redisPrefix: prefix, concurrency: 2, handlers: { job: async (j) => void done.push(String(j.id)) }, logger, metrics });
    workers.push(w);
    return w;
  };
  afterAll(async () => {
    await settleWithin(Promise.all(workers.map((w) => w.close(true))), 3000);
    await queue.close();
    for (const c of connections) c.disconnect();
    await deletePrefix(prefix);
  });

  it('when the worker takes no job while jobs wait, then it is replaced and the jobs run; an idle worker is left alone', async () => {
    // A worker whose fetch loop never runs, as one parked on a wedged blocking connection.
    const stuck = new Worker('supervised', async () => undefined, { connection: connections[0]!, prefix: `{${prefix}}`, autorun: false });
    workers.push(stuck);
    const replaced: Worker[] = [];
    const supervisor = superviseWorker(stuck, {
      make,
      waiting: () => jobsToTake(queue),
      concurrency: 2,
      replaced: (next) => replaced.push(next),
      logger,
      stuckAfterMs: 300,
      checkEveryMs: 100,
    });
    try {
      await queue.add('job', {}, { jobId: 'a' });
      await waitFor('the replacement to run the waiting job', () => done.includes('a'), 10_000);
      expect(replaced).toHaveLength(1);
      expect(lines.join('\n')).toMatch(/worker took no job while jobs waited: replacing it/);
      // The replacement takes jobs as they come, and idle with nothing waiting, it is left alone.
      await queue.add('job', {}, { jobId: 'b' });
      await waitFor('the next job', () => done.includes('b'), 5000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(replaced).toHaveLength(1);
      expect(await jobsToTake(queue)).toBe(0);
    } finally {
      supervisor.stop();
    }
  });
});
