/**
 * Redis Cluster and Sentinel: the web and worker processes configured with REDIS_CLUSTER_NODES, or
 * REDIS_SENTINELS and REDIS_SENTINEL_NAME, instead of REDIS_URL, each topology running on loopback.
 * On each, the exactly-once claim holds for repeats spread over two web processes (on the Cluster the
 * calls' records land on different masters) and each call's call.started is recorded once (stored with
 * the answer by one script on Sentinel, beside it on the Cluster), function calls become BullMQ jobs that a worker process
 * performs once each through the Twilio REST API, and the outbound limiter (TWILIO_CPS) holds across
 * two workers.
 */
import { eventKeys } from '../../src/features/events';
import { Metrics } from '../../src/observability/metrics';
import { startWorker, type RunningWorker } from '../../src/worker/start';
import { RETELL_KEY, startBridge, type TestBridge } from '../support/bridge';
import { EVENTS_ENV } from '../support/events';
import { memoryLogger } from '../support/logs';
import { OUR_NUMBER, OUTBOUND_ENV, placeCall, waitForCall } from '../support/outbound';
import { voiceParams } from '../support/twilio-signing';
import { queueAction, successfulUpdatesPerCall, TRANSFER_ENV, waitForJobs, type AgentFunction } from './support/call-actions';
import { FaultyRetell } from './support/faulty-retell';
import { waitFor } from './support/ports';
import { redisCli, RedisClusterTopology, RedisSentinelTopology, type RedisTopology } from './support/redis-topology';
import { WebProcess } from './support/web-process';
import { dialedCallId, isCallTwiml, sendVoice, summarize } from './support/webhooks';
import { WorkerProcess } from './support/worker-process';

const RETELL_TIMEOUT_MS = 4000;
/** Slow enough that the repeats pile up behind the first request of each call. */
const SLOW_RETELL_MS = 500;

describe.each<[string, () => Promise<RedisTopology>]>([
  ['a Redis Cluster of three masters', () => RedisClusterTopology.start()],
  ['Sentinel (a master, its replica and a sentinel)', () => RedisSentinelTopology.start()],
])('on %s', (_name, startTopology) => {
  let topology: RedisTopology;
  beforeAll(async () => {
    topology = await startTopology();
  });
  afterAll(async () => {
    await topology?.dispose();
  });

  describe('when 10 calls are each repeated 10 times at once, spread over two web processes, while Retell is slow', () => {
    let retell: FaultyRetell;
    let webs: WebProcess[] = [];
    beforeAll(async () => {
      retell = await new FaultyRetell(RETELL_KEY).start();
      const env = { ...topology.env, ...EVENTS_ENV, REDIS_PREFIX: 'faults-topology', RETELL_BASE_URL: retell.url, RETELL_TIMEOUT_MS: String(RETELL_TIMEOUT_MS) };
      webs = await Promise.all([WebProcess.start(env), WebProcess.start(env)]);
      // One call each first: a process's first requests compile code paths, which on a busy machine
      // can outlast the Retell budget. This case is about dedupe, not about cold starts.
      retell.behaviour = { kind: 'ok' };
      for (const web of webs) await sendVoice(web.url, voiceParams());
    });
    afterAll(async () => {
      await Promise.all(webs.map((w) => w.dispose()));
      await retell?.stop();
    });

    it('then each call is registered once and every repeat gets the same TwiML dialing it', async () => {
      retell.behaviour = { kind: 'ok', delayMs: SLOW_RETELL_MS };
      const calls = Array.from({ length: 10 }, () => voiceParams());
      const requests = Array.from({ length: 100 }, (_, i) => ({ params: calls[i % 10]!, web: webs[Math.floor(i / 10) % 2]! }));
      const answers = await Promise.all(requests.map(({ params, web }) => sendVoice(web.url, params)));

      expect(summarize(answers.filter((a) => !isCallTwiml(a) || dialedCallId(a.body) === undefined))).toBe('');
      for (const call of calls) {
        const mine = answers.filter((a) => a.callSid === call.CallSid);
        const registered = retell.registrationsFor(call.CallSid!);
        expect({ call: call.CallSid, registrations: registered.length, answers: new Set(mine.map((a) => a.body)).size }).toEqual({
          call: call.CallSid,
          registrations: 1,
          answers: 1,
        });
        expect(dialedCallId(mine[0]!.body)).toBe(registered[0]);
      }

      // No worker runs here: the events wait in the stream, where the answers put them.
      const stream = eventKeys('faults-topology').stream;
      const startedFor = async (callSid: string) => {
        const text = await redisCli(await topology.masterFor(stream), 'XRANGE', stream, '-', '+');
        const events = text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { type: string; data: { call_sid: string; retell_call_id: string } });
        return events.filter((e) => e.type === 'call.started' && e.data.call_sid === callSid).map((e) => e.data.retell_call_id);
      };
      for (const call of calls) {
        await waitFor(`call.started of ${call.CallSid}`, async () => (await startedFor(call.CallSid!)).length > 0, 10_000);
        expect(await startedFor(call.CallSid!)).toEqual(retell.registrationsFor(call.CallSid!));
      }
    });
  });

  describe('when agents ask for transfers and hang-ups on 20 live calls', () => {
    let bridge: TestBridge;
    let worker: WorkerProcess;
    beforeAll(async () => {
      bridge = await startBridge({ ...topology.env, ...TRANSFER_ENV });
      worker = await WorkerProcess.forBridge(bridge, { env: topology.env });
    });
    afterAll(async () => {
      await worker?.dispose();
      await bridge?.close();
    });

    it('then the worker process performs each job once through the Twilio REST API', async () => {
      const fns: AgentFunction[] = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'transfer_call' : 'end_call'));
      const queued = await Promise.all(fns.map((fn) => queueAction(bridge, fn)));
      await waitForJobs(bridge, queued.map((q) => q.jobId), 'completed', 20_000);

      const sids = queued.map((q) => q.callSid);
      expect(successfulUpdatesPerCall(bridge, sids)).toEqual(Object.fromEntries(sids.map((s) => [s, 1])));
      for (const [i, q] of queued.entries()) {
        const [update] = bridge.twilio.callUpdates(q.callSid);
        if (fns[i] === 'transfer_call') expect(update!.form.Twiml).toContain('<Number>+14155550101</Number>');
        else expect(update!.form).toEqual({ Status: 'completed' });
        expect(await bridge.calls.get(q.callSid)).toMatchObject({ state: fns[i] === 'transfer_call' ? 'transferred' : 'ended' });
        expect(await bridge.calls.action(q.callSid)).toMatchObject({ jobId: q.jobId, status: 'done' });
      }
      expect(worker.messages('error')).toEqual([]);
    });
  });

  describe('when four outbound calls are queued at TWILIO_CPS=1 and two workers take them', () => {
    let bridge: TestBridge;
    const workers: RunningWorker[] = [];
    const logs: string[][] = [];
    beforeAll(async () => {
      bridge = await startBridge({ ...topology.env, ...OUTBOUND_ENV, TWILIO_CPS: '1', WORKER_CONCURRENCY: '1' });
      for (let i = 0; i < 2; i++) {
        const { logger, lines } = memoryLogger('info');
        logs.push(lines);
        // One placement at a time each (by default a worker has room for those waiting for their turn too).
        workers.push(startWorker({ config: bridge.config, logger, metrics: new Metrics({ defaultMetrics: false }), placementConcurrency: 1 }));
      }
    });
    afterAll(async () => {
      await Promise.all(workers.map((w) => w.close(3000)));
      await bridge?.close();
    });

    it('then they are placed one a second across both workers, each once', async () => {
      // Each create is answered late, so a worker is still busy when the limiter lets the next job
      // through a second later, and the other worker takes it: the limit must hold across them.
      bridge.twilio.addNumber(OUR_NUMBER);
      bridge.twilio.callee.defaultScript = { answer: 'busy' };
      for (let i = 0; i < 4; i++) bridge.twilio.callee.createInjections.push({ kind: 'late', ms: 1500 });
      bridge.retell.concurrency = { current: 0, limit: 100 };
      const ids = await Promise.all(['+14155550101', '+14155550102', '+14155550103', '+14155550104'].map((to) => placeCall(bridge, { to })));
      const creates = () => bridge.twilio.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
      await waitFor('every call placed', () => creates().length === 4, 20_000);
      for (const id of ids) await waitForCall(bridge, id, 'the call to end', (v) => v.outcome === 'dial_busy', 15_000);
      // A create's answer comes after the call has ended (it is late on purpose); then the job completes.
      for (const id of ids) await waitFor('the job to complete', async () => (await bridge.outboundQueue.getJob(`place-${id}`))?.returnvalue === 'placed', 10_000);

      // When BullMQ let each job through (processedOn): the limiter acts there, in Redis.
      const started = (await Promise.all(ids.map((id) => bridge.outboundQueue.getJob(`place-${id}`)))).map((j) => j!.processedOn!).sort((a, b) => a - b);
      expect(started[3]! - started[0]!).toBeGreaterThanOrEqual(3000 - 50);
      for (let i = 1; i < started.length; i++) expect(started[i]! - started[i - 1]!).toBeGreaterThanOrEqual(950);
      expect(new Set(creates().map((r) => r.form.To)).size).toBe(4);
      expect(logs.map((lines) => lines.filter((l) => l.includes('outbound call placed')).length)).toEqual([2, 2]);
    });
  });
});
