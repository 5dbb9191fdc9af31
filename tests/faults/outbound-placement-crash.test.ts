/**
 * Fault case: a worker process is SIGKILLed while its `calls.create` request is inside Twilio. Twilio's
 * API takes no idempotency key, so whether the call exists is only known at Twilio. The worker that
 * takes the job over must look there before placing again: the callee's phone rings once.
 */
import { WORKER_TIMING } from '../../src/jobs/call-action-worker';
import { startBridge, type TestBridge } from '../support/bridge';
import { getCall, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall } from '../support/outbound';
import { waitReady } from '../support/redis';
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
  bridge = await startBridge(OUTBOUND_ENV, { redisUrl: redis.url });
  await waitReady(bridge.redis);
  bridge.twilio.addNumber(OUR_NUMBER);
});
afterEach(async () => {
  for (const w of workers.splice(0)) await w.dispose();
  await bridge?.close();
});
afterAll(async () => {
  await redis?.dispose();
});

const startWorker = async () => {
  const w = await WorkerProcess.forBridge(bridge, { env: { RETELL_BASE_URL: bridge.retell.url } });
  workers.push(w);
  return w;
};
const creates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));

describe('when a worker process is SIGKILLed during calls.create', () => {
  it('and Twilio had created the call (answering late), then the next worker finds it at Twilio and adopts it: one call placed', async () => {
    // The callee's callbacks come late too, so nothing but the look can tell the survivor about the call.
    bridge.twilio.callee.defaultScript = { answer: 'human', startDelayMs: 120_000 };
    bridge.twilio.callee.createInjections.push({ kind: 'late', ms: 120_000 });
    const first = await startWorker();
    const id = await placeCall(bridge);
    await waitFor('the create request to reach Twilio', () => creates().length === 1, 15_000);
    expect(bridge.twilio.callee.placed.size).toBe(1);
    const [created] = [...bridge.twilio.callee.placed.keys()];

    await first.kill();
    const killedAt = Date.now();
    const second = await startWorker();
    const adopted = await waitForCall(bridge, id, 'the call to be linked by the surviving worker', (v) => v.call_sid !== undefined, TAKEOVER_BOUND_MS);

    expect(Date.now() - killedAt).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(adopted.call_sid).toBe(created);
    expect(creates()).toHaveLength(1);
    expect(bridge.twilio.callee.placed.size).toBe(1);
    await waitFor('the job to complete', async () => (await bridge.outboundQueue.getJob(`place-${id}`))?.returnvalue === 'adopted', 5000);
    expect(second.messages('warn')).toContain('found the call an earlier attempt placed: adopted, not placing again');
    expect((await getCall(bridge, id)).body.status).toBe('dialing');
  });

  it('and Twilio had not created the call, then the next worker looks, finds nothing and places it: one call placed', async () => {
    bridge.twilio.callee.defaultScript = { answer: 'human' };
    bridge.twilio.callee.createInjections.push({ kind: 'hang' });
    const first = await startWorker();
    const id = await placeCall(bridge);
    await waitFor('the create request to reach Twilio', () => creates().length === 1, 15_000);
    expect(bridge.twilio.callee.placed.size).toBe(0);

    await first.kill();
    await startWorker();
    const live = await waitForCall(bridge, id, 'the call placed and answered', (v) => v.status === 'in-progress', TAKEOVER_BOUND_MS);
    expect(creates()).toHaveLength(2);
    expect(bridge.twilio.callee.placed.size).toBe(1);
    expect(live.call_sid).toBe([...bridge.twilio.callee.placed.keys()][0]);
    expect(bridge.twilio.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Calls.json'))).toHaveLength(1);
    expect(bridge.retell.registrations).toHaveLength(1);
  });
});
