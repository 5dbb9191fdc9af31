import { WORKER_TIMING } from '../../../src/jobs/worker';
import { startBridge, type TestBridge } from '../../support/bridge';
import { waitReady } from '../../support/redis';
import { RedisServer } from './redis-server';
import { WorkerProcess } from './worker-process';

/** BullMQ requeues a dead worker's job within lockDuration + 2 × stalledInterval; the rest is slack for a busy machine. */
export const TAKEOVER_BOUND_MS = WORKER_TIMING.lockDuration + 2 * WORKER_TIMING.stalledInterval + 10_000;

export interface CrashHarness {
  /** This test's bridge (web in-process, fake Twilio and Retell), on the file's own redis-server. */
  readonly bridge: TestBridge;
  /** Starts a worker process for the bridge, with `env` added to the harness's; disposed after the test. */
  startWorker(opts?: { concurrency?: number }): Promise<WorkerProcess>;
}

/**
 * Jest hooks for the worker-crash fault cases: a redis-server of the file's own (a killed worker must
 * not leave locks in the shared one), a fresh bridge per test with `env` and `numbers` bought on its
 * fake Twilio, and worker processes that can be SIGKILLed and are disposed after each test.
 * Call it at the top level of a test file.
 */
export function useCrashHarness(env: Record<string, string>, opts: { numbers?: string[]; workerEnv?: (bridge: TestBridge) => Record<string, string> } = {}): CrashHarness {
  let redis: RedisServer;
  let bridge: TestBridge | undefined;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  beforeEach(async () => {
    bridge = await startBridge(env, { redisUrl: redis.url });
    await waitReady(bridge.redis);
    for (const n of opts.numbers ?? []) bridge.twilio.addNumber(n);
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.dispose();
    await bridge?.close();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  return {
    get bridge(): TestBridge {
      if (!bridge) throw new Error('the crash harness starts its bridge in beforeEach: use it inside a test');
      return bridge;
    },
    async startWorker(workerOpts = {}) {
      const b = this.bridge;
      const w = await WorkerProcess.forBridge(b, { concurrency: workerOpts.concurrency, env: opts.workerEnv?.(b) });
      workers.push(w);
      return w;
    },
  };
}
