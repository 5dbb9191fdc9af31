import { CampaignRepository } from '../../../src/features/campaigns';
import { outboundIdFor } from '../../../src/features/outbound';
import { Metrics } from '../../../src/observability/metrics';
import { startWorker, type RunningWorker } from '../../../src/worker/start';
import { startBridge, type TestBridge } from '../../support/bridge';
import { memoryLogger } from '../../support/logs';
import { OUR_NUMBER, OUTBOUND_ENV } from '../../support/outbound';
import { waitFor } from '../../support/wait';
import { api, campaignClient } from './support';

/**
 * No attempt dialed twice and no task lost: two workers ticking at once, and a worker that stopped
 * between claiming a task and queueing its call (the task is taken up again by the next one).
 */
jest.setTimeout(90_000);

describe('campaign attempts, exactly once', () => {
  let bridge: TestBridge;
  let extra: RunningWorker[] = [];
  let now = Date.UTC(2026, 2, 4, 15, 0);
  const clock = () => now;
  afterEach(async () => {
    await Promise.all(extra.map((w) => w.close(5000)));
    extra = [];
    await bridge.close();
  });
  const worker = () => {
    const w = startWorker({ config: bridge.config, logger: memoryLogger('warn').logger, metrics: new Metrics({ defaultMetrics: false }), campaigns: { clock, campaignTickMs: 100 } });
    extra.push(w);
    return w;
  };
  const { creates, create } = campaignClient(() => bridge);

  it('when two workers share a campaign, then every number is dialed exactly once', async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, TWILIO_CPS: '50' }, { worker: true, campaigns: { clock, campaignTickMs: 100 } });
    bridge.twilio.addNumber(OUR_NUMBER);
    worker();
    bridge.twilio.callee.defaultScript = { answer: 'no-answer', ringMs: 20 };
    const to = Array.from({ length: 30 }, (_, i) => `+1212555${String(3000 + i)}`);
    const id = await create({ tasks: to.map((n) => ({ to: n })), max_concurrency: 30, retry: { on: ['no_answer'], max_attempts: 2, delay_s: 1 } });
    await waitFor('the first attempts to end', async () => (await api(bridge, 'GET', `/campaigns/${id}`)).body.counts.scheduled === 30, 60_000, 100);
    now += 5000;
    await waitFor('the campaign to complete', async () => (await api(bridge, 'GET', `/campaigns/${id}`)).body.status === 'completed', 30_000, 100);
    const perNumber = new Map<string, number>();
    for (const r of creates()) perNumber.set(r.form.To!, (perNumber.get(r.form.To!) ?? 0) + 1);
    expect([...perNumber.keys()].sort()).toEqual([...to].sort());
    expect([...perNumber.values()].every((n) => n === 2)).toBe(true);
    expect((await api(bridge, 'GET', `/campaigns/${id}`)).body.counts).toMatchObject({ total: 30, completed: 30 });
  });

  it('when a worker stopped after claiming a task, or after recording its attempt, then the task is dialed later, once, with the same attempt', async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, TWILIO_CPS: '10' }, { campaigns: { clock } });
    bridge.twilio.addNumber(OUR_NUMBER);
    bridge.twilio.callee.defaultScript = { answer: 'busy' };
    const id = await create({ tasks: [{ to: '+12125554001' }, { to: '+12125554002' }] });
    // What a worker killed mid-tick leaves: one task claimed only, the other with its attempt recorded but never queued.
    const repo = new CampaignRepository(bridge.redis, bridge.config.redis.prefix);
    const claimed = await repo.claim(id, now, 2, 5);
    expect(claimed.kind).toBe('ok');
    const second = (claimed as { tasks: Array<{ id: string }> }).tasks[1]!.id;
    const outboundId = outboundIdFor(`campaign:${id}:${second}:1`);
    expect((await repo.begin(id, second, 1, outboundId, now)).kind).toBe('ok');
    worker();
    await new Promise((r) => setTimeout(r, 800));
    expect(creates()).toHaveLength(0);
    now += 3 * 60_000;
    await waitFor('the campaign to complete', async () => (await api(bridge, 'GET', `/campaigns/${id}`)).body.status === 'completed', 30_000, 100);
    expect(creates().map((r) => r.form.To).sort()).toEqual(['+12125554001', '+12125554002']);
    const tasks = (await api(bridge, 'GET', `/campaigns/${id}/tasks`)).body.tasks;
    expect(tasks.map((t: any) => t.attempts.length)).toEqual([1, 1]);
    expect(tasks[1].attempts[0].outbound_id).toBe(outboundId);
  });
});
