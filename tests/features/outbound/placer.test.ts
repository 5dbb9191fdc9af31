import { OutboundStore } from '../../../src/features/outbound/repository';
import { Metrics } from '../../../src/observability/metrics';
import { createTwilioClient } from '../../../src/twilio/client';
import { placeCall as twilioPlaceCall } from '../../../src/features/outbound/twilio';
import { startWorker, type RunningWorker } from '../../../src/worker/start';
import { startBridge, type TestBridge } from '../../support/bridge';
import { memoryLogger } from '../../support/logs';
import { CALLEE, getCall, OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall } from '../../support/outbound';
import { sleep, waitFor } from '../../support/wait';

/** The placement worker: Twilio's calls-per-second limit, Retell's concurrency, and placing each call once. */
describe('outbound placement', () => {
  let bridge: TestBridge;
  let workers: RunningWorker[] = [];
  const logs: string[][] = [];

  const startWorkers = (n: number, placementConcurrency?: number) => {
    for (let i = 0; i < n; i++) {
      const { logger, lines } = memoryLogger('info');
      logs.push(lines);
      workers.push(startWorker({ config: bridge.config, logger, metrics: new Metrics({ defaultMetrics: false }), ...(placementConcurrency ? { placementConcurrency } : {}) }));
    }
  };
  const creates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));

  afterEach(async () => {
    await Promise.all(workers.map((w) => w.close(3000)));
    workers = [];
    logs.length = 0;
    await bridge.close();
  });

  it('when calls are queued at TWILIO_CPS=1 and two workers take them, then they are placed one a second across both: N calls span at least N−1 seconds', async () => {
    // Each worker takes one placement at a time (by default it has room for those waiting for their
    // turn as well), and each create is answered after 1.5 s: a worker is still busy when the limiter
    // lets the next job through a second later, so the other worker takes it.
    bridge = await startBridge({ ...OUTBOUND_ENV, TWILIO_CPS: '1', WORKER_CONCURRENCY: '1' });
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.twilio.callee.defaultScript = { answer: 'busy' };
    for (let i = 0; i < 4; i++) bridge.twilio.callee.createInjections.push({ kind: 'late', ms: 1500 });
    bridge.retell.concurrency = { current: 0, limit: 100 };
    startWorkers(2, 1);
    const ids = await Promise.all(['+14155550101', '+14155550102', '+14155550103', '+14155550104'].map((to) => placeCall(bridge, { to })));
    await waitFor('every call placed', () => creates().length === 4, 15_000);
    for (const id of ids) await waitForCall(bridge, id, 'the call to end', (v) => v.outcome === 'dial_busy');
    for (const id of ids) await waitFor('the job to complete', async () => (await bridge.outboundQueue.getJob(`place-${id}`))?.returnvalue === 'placed');
    // When each job was let through (BullMQ's processedOn, the worker's clock at activation). The
    // create requests follow, but their arrival also carries a cold first request's connection
    // set-up, so the limiter is judged where it acts.
    const started = (await Promise.all(ids.map((id) => bridge.outboundQueue.getJob(`place-${id}`)))).map((j) => j!.processedOn!).sort((a, b) => a - b);
    expect(started[3]! - started[0]!).toBeGreaterThanOrEqual(3000 - 50);
    for (let i = 1; i < started.length; i++) expect(started[i]! - started[i - 1]!).toBeGreaterThanOrEqual(950);
    // Both workers placed calls, so the limit held across them: alone, each would have placed its
    // next call as soon as it was free.
    const placedBy = logs.map((lines) => lines.filter((l) => l.includes('outbound call placed')).length);
    expect(placedBy).toEqual([2, 2]);
  }, 30_000);

  it('when Retell is at its limit less the inbound reserve, then calls wait without spending attempts, and are placed once there is room', async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, OUTBOUND_RESERVED_CONCURRENCY: '2' });
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.retell.concurrency = { current: 8, limit: 10 };
    startWorkers(1);
    const id = await placeCall(bridge);
    await waitFor('a few capacity checks', () => bridge.retell.concurrencyRequests >= 2, 10_000);
    expect(creates()).toHaveLength(0);
    const waiting = await bridge.outboundQueue.getJob(`place-${id}`);
    // Tried at every check, yet no attempt spent: the job cannot run out of attempts by waiting.
    expect(waiting!.attemptsStarted).toBeGreaterThanOrEqual(2);
    expect(waiting!.attemptsMade).toBe(0);
    expect((await getCall(bridge, id)).body.status).toBe('queued');
    expect(logs[0]!.join('\n')).toContain('retell at capacity: outbound calls wait');

    bridge.retell.concurrency = { current: 7, limit: 10 };
    await waitForCall(bridge, id, 'the call answered', (v) => v.status === 'in-progress', 10_000);
    expect(creates()).toHaveLength(1);
  }, 30_000);

  it('when outbound calls are still ringing, then they count against Retell\'s limit though Retell does not see them yet', async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, TWILIO_CPS: '10', OUTBOUND_RESERVED_CONCURRENCY: '1' });
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.twilio.callee.defaultScript = { answer: 'unanswered' };
    bridge.retell.concurrency = { current: 0, limit: 3 };
    startWorkers(2);
    const ids = await Promise.all(['+14155550101', '+14155550102', '+14155550103'].map((to) => placeCall(bridge, { to })));
    await waitFor('two calls ringing', () => creates().length === 2);
    await sleep(2500);
    expect(creates()).toHaveLength(2);
    // One ringing call is canceled: its slot is free and the third call goes out.
    const ringing = [];
    for (const id of ids) if ((await getCall(bridge, id)).body.call_sid) ringing.push(id);
    const res = await fetch(`${bridge.url}/calls/${ringing[0]}`, { method: 'DELETE', headers: { authorization: `Bearer ${OUTBOUND_ENV.API_TOKEN}` } });
    // The worker cancels it at Twilio; its slot is then free for the third call.
    expect(res.status).toBe(202);
    await waitFor('the third call placed', () => creates().length === 3, 10_000);
  }, 30_000);

  it('when an earlier attempt created the call but its answer was lost, then the next attempt finds it at Twilio and adopts it instead of placing another', async () => {
    bridge = await startBridge(OUTBOUND_ENV);
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.twilio.callee.defaultScript = { answer: 'human', startDelayMs: 60_000 };
    const id = await placeCall(bridge);
    // What the first attempt left behind: placement begun (the record says so), the call created at
    // Twilio with this record's URLs, and no CallSid recorded. Its callbacks have not come yet.
    const store = new OutboundStore(bridge.redis, bridge.config.redis.prefix);
    expect(await store.beginPlacement(id)).toEqual({ kind: 'first' });
    const lost = await twilioPlaceCall(createTwilioClient(bridge.config.twilio), bridge.config.publicUrl, {
      id,
      to: CALLEE,
      from: OUR_NUMBER,
      ringTimeoutS: 30,
      machineDetection: 'Enable',
    });
    // Another call to the same number, older than the attempt, is not taken for it.
    startWorkers(1);
    const adopted = await waitForCall(bridge, id, 'the call adopted', (v) => v.call_sid !== undefined);
    expect(adopted.call_sid).toBe(lost.sid);
    expect(creates()).toHaveLength(1);
    expect(bridge.twilio.requests.some((r) => r.method === 'GET' && r.path.endsWith('/Calls.json') && r.query.get('To') === CALLEE && r.query.get('From') === OUR_NUMBER)).toBe(true);
    expect(await bridge.outboundQueue.getJob(`place-${id}`).then((j) => j?.returnvalue)).toBe('adopted');
    expect(logs[0]!.join('\n')).toContain('found the call an earlier attempt placed');
  });

  it('when the only call to that number at Twilio belongs to another outbound request, then it is not adopted and the call is placed', async () => {
    bridge = await startBridge(OUTBOUND_ENV);
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.twilio.callee.defaultScript = { answer: 'human', startDelayMs: 60_000 };
    const store = new OutboundStore(bridge.redis, bridge.config.redis.prefix);
    const first = await placeCall(bridge);
    const second = await placeCall(bridge, { dynamic_variables: { n: '2' } });
    await store.beginPlacement(second);
    const theirs = await twilioPlaceCall(createTwilioClient(bridge.config.twilio), bridge.config.publicUrl, {
      id: first,
      to: CALLEE,
      from: OUR_NUMBER,
      ringTimeoutS: 30,
      machineDetection: 'Enable',
    });
    expect(await store.link(first, theirs.sid)).toMatchObject({ kind: 'linked' });
    startWorkers(1);
    const placed = await waitForCall(bridge, second, 'the second call placed', (v) => v.call_sid !== undefined);
    expect(placed.call_sid).not.toBe(theirs.sid);
    expect(creates()).toHaveLength(2);
  });
});
