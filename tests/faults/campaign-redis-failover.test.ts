/**
 * Fault case: the Redis master is SIGKILLed while a campaign dials, and Redis fails over (Sentinel
 * promotes the replica; in Redis Cluster the replica of the master serving the queue takes its slots).
 * Neither the web nor the worker is restarted. Counted from the fake Twilio's side: every number is
 * dialed exactly as often as its callee and the retry rule allow, and every task reaches its final state.
 */
import { STALE_AFTER_MS } from '../../src/features/campaigns/scheduler';
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { RETELL_KEY } from '../support/bridge';
import { OUR_NUMBER, OUTBOUND_ENV } from '../support/outbound';
import { ACCOUNT_SID, AUTH_TOKEN } from '../support/twilio-signing';
import { campaignNumbers, createCampaign, dialsOf, expectedDials, faultCallee, tasksOf, waitCompleted } from './support/campaigns';
import { sleep, waitFor } from './support/ports';
import { failoverTopologies, type RedisTopology } from './support/redis-topology';
import { WebProcess } from './support/web-process';
import { WorkerProcess } from './support/worker-process';

const PREFIX = 'faults-campaign-failover';
const QUEUE_KEY = `{${PREFIX}}`;
const FAILOVER_BOUND_MS = 20_000;
const TASKS = 60;

describe.each(failoverTopologies(QUEUE_KEY))('a campaign when %s', (_what, startTopology) => {
  let topology: RedisTopology;
  let retell: FakeRetell;
  let twilio: FakeTwilioApi;
  let web: WebProcess;
  let worker: WorkerProcess;

  beforeAll(async () => {
    topology = await startTopology();
    retell = await new FakeRetell(RETELL_KEY).start();
    twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
    twilio.addNumber(OUR_NUMBER);
    twilio.callee.scriptRule = faultCallee;
    const env = { ...topology.env, ...OUTBOUND_ENV, TWILIO_CPS: '10', REDIS_PREFIX: PREFIX, RETELL_BASE_URL: retell.url, TWILIO_API_BASE_URL: twilio.url };
    web = await WebProcess.start({ ...env, RETELL_TIMEOUT_MS: '4000' });
    twilio.callee.deliverTo = web.url;
    worker = await WorkerProcess.start(env);
  }, 90_000);
  afterAll(async () => {
    await worker?.dispose();
    await web?.dispose();
    await twilio?.stop();
    await retell?.stop();
    await topology?.dispose();
  });

  it('then each number is dialed exactly as often as allowed and every task reaches its final state', async () => {
    const pids = { web: web.pid, worker: worker.pid };
    const numbers = campaignNumbers(TASKS);
    const id = await createCampaign(web.url, numbers);
    await waitFor('a quarter of the dials', () => twilio.callee.placed.size >= TASKS / 4, 30_000, 10);
    const before = twilio.callee.placed.size;
    const { killed, promoted } = await topology.failOver(QUEUE_KEY, FAILOVER_BOUND_MS);
    expect(promoted).not.toBe(killed);

    // A call whose final status callback was refused while Redis was away is looked at after STALE_AFTER_MS.
    const done = await waitCompleted(web.url, id, STALE_AFTER_MS + 90_000).catch((err: Error) => {
      const dials = dialsOf(twilio.callee, numbers);
      const wrong = numbers.filter((n) => dials[n] !== expectedDials([n])[n]).map((n) => `${n}: ${dials[n]} dials`);
      // Twilio does not retry a status callback: one refused while Redis was away is the bridge's to recover.
      const refused = twilio.callee.webhooks.filter((w) => w.kind === 'status' && (w.status < 200 || w.status >= 300)).map((w) => `${w.params.CallStatus} ${w.params.To} → ${w.status}`);
      throw new Error(`${err.message}\nnumbers dialed other than expected: ${wrong.join(', ') || 'none'}\nstatus callbacks refused: ${refused.join(', ') || 'none'}`);
    });
    await sleep(2000);
    // The failover came mid-campaign: dials before it and after it.
    expect(before).toBeLessThan(TASKS);
    expect(dialsOf(twilio.callee, numbers)).toEqual(expectedDials(numbers));
    expect(done.counts).toMatchObject({ total: TASKS, completed: TASKS, pending: 0, scheduled: 0, dialing: 0, in_progress: 0 });
    const tasks = await tasksOf(web.url, id);
    expect(tasks.filter((t) => t.status !== 'completed' || t.attempts.length !== expectedDials([t.to])[t.to]).map((t) => `${t.to}: ${t.status}, ${t.attempts.length}`)).toEqual([]);
    expect({ web: web.pid, worker: worker.pid }).toEqual(pids);
    expect({ web: web.alive, worker: worker.alive }).toEqual({ web: true, worker: true });
  }, STALE_AFTER_MS + 240_000);
});
