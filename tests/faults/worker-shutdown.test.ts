/**
 * Fault case 7 (worker part): the platform sends SIGTERM to a worker process (deploy, restart,
 * scale-down) while it has jobs inside Twilio requests and more are waiting. The running jobs are
 * finished, the waiting ones are left in the queue for the next worker, and the process exits 0 well
 * before the platform's SIGKILL. When Redis is unreachable at that moment, the worker still exits by
 * its close deadline, and once Redis is back another worker completes every job: none is lost, none
 * is done twice.
 */
import { startBridge, type TestBridge } from '../support/bridge';
import { waitReady } from '../support/redis';
import { queueTransfer, queueTransfers, successfulUpdatesPerCall, TRANSFER_ENV, waitForJobs, jobState, type QueuedTransfer } from './support/call-actions';
import { waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { WorkerProcess } from './support/worker-process';

/** src/bin/worker.ts drains for 20 s and then closes by force; Heroku's SIGKILL comes at 30 s. */
const EXIT_BOUND_MS = 25_000;
/** A job left active by a worker that is gone is taken over within lockDuration + 2 × stalledInterval (12 s), plus slack. */
const TAKEOVER_BOUND_MS = 25_000;

let redis: RedisServer;
let proxy: TcpProxy;
let bridge: TestBridge;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  proxy = await TcpProxy.start(redis.port);
});
beforeEach(async () => {
  // The web app reaches Redis directly: only the worker's path to Redis fails.
  bridge = await startBridge(TRANSFER_ENV, { redisUrl: redis.url });
  await waitReady(bridge.redis);
});
afterEach(async () => {
  for (const w of workers.splice(0)) await w.dispose();
  await bridge?.close();
});
afterAll(async () => {
  await proxy?.close();
  await redis?.dispose();
});

const startWorker = async (concurrency: number, redisUrl = redis.url) => {
  const w = await WorkerProcess.forBridge(bridge, { redisUrl, concurrency });
  workers.push(w);
  return w;
};

const queueMany = (n: number) => queueTransfers(bridge, n);

describe('when a worker process gets SIGTERM with jobs inside slow Twilio requests and more waiting', () => {
  it('then it finishes the running jobs and exits 0, the waiting ones stay queued, and the next worker completes them once', async () => {
    const concurrency = 5;
    const first = await startWorker(concurrency);
    for (let i = 0; i < concurrency; i++) bridge.twilio.injections.push({ kind: 'delay', ms: 3000 });
    const running = await queueMany(concurrency);
    await waitFor('every slot to be inside a Twilio request', () => bridge.twilio.callUpdates().length === concurrency, 10_000);
    // The worker is full, so these wait in the queue.
    const waiting = await queueMany(3);

    const terminatedAt = Date.now();
    first.terminate();
    // Agents keep asking while the worker drains.
    waiting.push(...(await queueMany(2)));
    const exit = await first.exited(EXIT_BOUND_MS);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - terminatedAt).toBeLessThan(EXIT_BOUND_MS);
    expect(first.records().find((r) => r.msg === 'worker stopped')).toMatchObject({ outcome: 'drained' });
    for (const q of running) expect(await jobState(bridge, q.jobId)).toBe('completed');
    for (const q of waiting) expect(await jobState(bridge, q.jobId)).toBe('waiting');
    expect(bridge.twilio.callUpdates()).toHaveLength(concurrency);

    await startWorker(concurrency);
    await waitForJobs(bridge, waiting.map((q) => q.jobId), 'completed', 15_000);
    const all = [...running, ...waiting];
    const sids = all.map((q) => q.callSid);
    expect(successfulUpdatesPerCall(bridge, sids)).toEqual(Object.fromEntries(sids.map((s) => [s, 1])));
    expect(bridge.twilio.callUpdates()).toHaveLength(all.length);
    for (const q of all) expect(await bridge.calls.get(q.callSid)).toMatchObject({ state: 'transferred' });
  }, 60_000);
});

describe.each<[string, () => void | Promise<void>, () => void | Promise<void>]>([
  ['its Redis is frozen (SIGSTOP)', () => redis.freeze(), () => redis.thaw()],
  ['the network to its Redis is cut', () => proxy.cut(), () => proxy.restore()],
])('when a worker process gets SIGTERM while %s', (_what, fail, recover) => {
  it('then it exits by its close deadline, and once Redis is back another worker completes every job exactly once', async () => {
    // One slot, held by a job whose Twilio request gets no answer (so the redirect never happened);
    // the rest wait behind it.
    const first = await startWorker(1, proxy.url);
    bridge.twilio.injections.push({ kind: 'hang' });
    const queued = await queueMany(4);
    await waitFor('the first job to be inside its Twilio request', () => bridge.twilio.callUpdates().length === 1, 10_000);

    let exit: Awaited<ReturnType<WorkerProcess['exited']>>;
    let elapsed: number;
    await fail();
    try {
      const terminatedAt = Date.now();
      first.terminate();
      exit = await first.exited(EXIT_BOUND_MS + 5000);
      elapsed = Date.now() - terminatedAt;
    } finally {
      await recover();
    }
    expect(exit).toEqual({ code: 0, signal: null });
    expect(elapsed).toBeLessThan(EXIT_BOUND_MS);
    expect(first.records().find((r) => r.msg === 'worker stopped')).toMatchObject({ outcome: 'forced' });

    await startWorker(1, proxy.url);
    await waitForJobs(bridge, queued.map((q) => q.jobId), 'completed', TAKEOVER_BOUND_MS);
    const sids = queued.map((q) => q.callSid);
    expect(successfulUpdatesPerCall(bridge, sids)).toEqual(Object.fromEntries(sids.map((s) => [s, 1])));
    // The unanswered request of the first worker, then one redirect per call.
    expect(bridge.twilio.callUpdates()).toHaveLength(queued.length + 1);
    for (const q of queued) expect(await bridge.calls.get(q.callSid)).toMatchObject({ state: 'transferred' });
  }, 90_000);
});
