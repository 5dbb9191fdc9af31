/**
 * Fault case 3: a worker process is SIGKILLed while its jobs are inside Twilio requests (an OOM kill,
 * a lost dyno). Its jobs stay active with locks nobody renews; another worker process finds them
 * stalled, takes them over and completes each exactly once: the killed worker's requests were never
 * answered, so the call is redirected once, by the survivor.
 */
import { WORKER_TIMING } from '../../src/jobs/call-action-worker';
import { startBridge, type TestBridge } from '../support/bridge';
import { waitReady } from '../support/redis';
import { queueTransfer, successfulUpdatesPerCall, TRANSFER_ENV, waitForJobs, type QueuedTransfer } from './support/call-actions';
import { waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { WorkerProcess } from './support/worker-process';

/** BullMQ requeues a dead worker's job within lockDuration + 2 × stalledInterval; the rest is slack for a busy machine. */
const TAKEOVER_BOUND_MS = WORKER_TIMING.lockDuration + 2 * WORKER_TIMING.stalledInterval + 10_000;

let redis: RedisServer;
let bridge: TestBridge;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});
beforeEach(async () => {
  bridge = await startBridge(TRANSFER_ENV, { redisUrl: redis.url });
  await waitReady(bridge.redis);
});
afterEach(async () => {
  for (const w of workers.splice(0)) await w.dispose();
  await bridge?.close();
});
afterAll(async () => {
  await redis?.dispose();
});

const startWorker = async (concurrency: number) => {
  const w = await WorkerProcess.forBridge(bridge, { concurrency });
  workers.push(w);
  return w;
};

describe.each([
  ['one job', 1, 1],
  ['ten jobs (WORKER_CONCURRENCY 10)', 10, 10],
])('when a worker process is SIGKILLed with %s inside Twilio requests', (_what, jobs, concurrency) => {
  it('then another worker process completes every job exactly once, and each call is transferred', async () => {
    const first = await startWorker(concurrency);
    // The killed worker's requests reach Twilio and are never answered.
    for (let i = 0; i < jobs; i++) bridge.twilio.injections.push({ kind: 'hang' });
    const queued: QueuedTransfer[] = [];
    for (let i = 0; i < jobs; i++) queued.push(await queueTransfer(bridge));
    await waitFor('every job to be inside a Twilio request', () => bridge.twilio.callUpdates().length === jobs, 15_000);

    await first.kill();
    const killedAt = Date.now();
    const second = await startWorker(concurrency);
    await waitForJobs(bridge, queued.map((q) => q.jobId), 'completed', TAKEOVER_BOUND_MS);
    expect(Date.now() - killedAt).toBeLessThan(TAKEOVER_BOUND_MS);

    const sids = queued.map((q) => q.callSid);
    expect(successfulUpdatesPerCall(bridge, sids)).toEqual(Object.fromEntries(sids.map((s) => [s, 1])));
    // One unanswered request from the killed worker and one from the survivor per call; nothing more.
    expect(bridge.twilio.callUpdates()).toHaveLength(2 * jobs);
    for (const q of queued) {
      expect((await bridge.queue.getJob(q.jobId))?.returnvalue).toBe('done');
      expect(await bridge.store.get(q.callSid)).toMatchObject({ state: 'transferred' });
      expect(await bridge.actions.get(q.callSid)).toMatchObject({ jobId: q.jobId, status: 'done' });
    }
    expect(second.messages()).toContain('transfer performed');
    expect(second.alive).toBe(true);
  });
});
