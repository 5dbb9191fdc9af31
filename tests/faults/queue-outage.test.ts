/**
 * Fault case 2 (queue part): Redis goes away while an agent asks for a transfer. The function call is
 * refused with 503 while Redis is unreachable, so Retell retries it; once Redis is back, Retell's
 * retry is queued and performed exactly once by the worker process that was running all along, and
 * neither the web app nor the worker is restarted.
 */
import { startBridge, type TestBridge } from '../support/bridge';
import { waitReady } from '../support/redis';
import { postTransfer, queueTransfer, successfulUpdatesPerCall, TRANSFER_ENV, waitForJobs } from './support/call-actions';
import { sleep, waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { liveCall } from '../support/calls';
import { WorkerProcess } from './support/worker-process';

/** Retell's retry comes after a while; the outage lasts long enough for several of them to fail. */
const OUTAGE_MS = 3000;
/** Each Redis step of a function call gives up after the request connection's 500 ms command timeout. */
const ANSWER_BOUND_MS = 5000;

let redis: RedisServer;
let proxy: TcpProxy;
let bridge: TestBridge;
let worker: WorkerProcess;
let workerPid: number | undefined;

beforeAll(async () => {
  redis = await RedisServer.start();
  // Both processes reach Redis through the proxy, so the network can fail without touching Redis.
  proxy = await TcpProxy.start(redis.port);
  bridge = await startBridge(TRANSFER_ENV, { redisUrl: proxy.url });
  await waitReady(bridge.redis);
  worker = await WorkerProcess.forBridge(bridge, { redisUrl: proxy.url });
  workerPid = worker.pid;
});
afterAll(async () => {
  await worker?.dispose();
  await bridge?.close();
  await proxy?.close();
  await redis?.dispose();
});

const ready = async () => (await fetch(`${bridge.url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200;

describe.each<[string, () => void | Promise<void>, () => void | Promise<void>]>([
  ['Redis is frozen (SIGSTOP), then resumed', () => redis.freeze(), () => redis.thaw()],
  ['the network to Redis is cut, then restored', () => proxy.cut(), () => proxy.restore()],
  ['the network to Redis blackholes, then recovers', () => proxy.blackhole(), () => proxy.restore()],
])('when %s while an agent asks for a transfer', (_what, fail, recover) => {
  it('then the function call gets 503 meanwhile, and Retell\'s retry afterwards is performed once by the running worker', async () => {
    await waitFor('the web app to reach Redis', ready, 15_000);
    // The worker works before the outage.
    const warmup = await queueTransfer(bridge);
    await waitForJobs(bridge, [warmup.jobId], 'completed', 15_000);

    const { callSid, callId } = await liveCall(bridge);
    const updatesBefore = bridge.twilio.callUpdates().length;
    await fail();
    const during: Array<{ status: number; elapsedMs: number }> = [];
    try {
      const until = Date.now() + OUTAGE_MS;
      // Retell's retries while Redis is away: each is answered promptly (never left hanging) with 503.
      while (Date.now() < until && during.length < 20) {
        const startedAt = Date.now();
        const res = await postTransfer(bridge, callId);
        await res.text();
        during.push({ status: res.status, elapsedMs: Date.now() - startedAt });
        await sleep(300);
      }
    } finally {
      await recover();
    }
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.filter((d) => d.status !== 503 || d.elapsedMs > ANSWER_BOUND_MS)).toEqual([]);
    expect(bridge.twilio.callUpdates().length).toBe(updatesBefore);

    // Retell keeps retrying; once Redis answers again, the same function call is queued.
    let jobId: string | undefined;
    await waitFor(
      'a retry to be accepted',
      async () => {
        const res = await postTransfer(bridge, callId);
        const body = (await res.json()) as { job_id?: string };
        if (res.status === 200) jobId = body.job_id;
        else expect(res.status).toBe(503);
        return res.status === 200;
      },
      20_000,
      300,
    );
    await waitForJobs(bridge, [jobId!], 'completed', 20_000);
    // A late repeat of the same request after it was performed is answered from the record and queues nothing.
    const repeat = await postTransfer(bridge, callId);
    expect(repeat.status).toBe(200);
    expect(((await repeat.json()) as { job_id?: string }).job_id).toBe(jobId);
    await sleep(500);

    expect(successfulUpdatesPerCall(bridge, [callSid])).toEqual({ [callSid]: 1 });
    expect(bridge.twilio.callUpdates(callSid)).toHaveLength(1);
    expect(await bridge.calls.get(callSid)).toMatchObject({ state: 'transferred' });
    expect(await bridge.calls.action(callSid)).toMatchObject({ jobId, status: 'done' });
    expect(await bridge.queue.getJobCounts('waiting', 'active', 'delayed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    // The same worker process did it: no restart.
    expect(worker.alive).toBe(true);
    expect(worker.pid).toBe(workerPid);
  });
});
