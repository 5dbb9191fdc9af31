import { STALE_AFTER_MS } from '../../../src/features/campaigns';
import type { SentWebhook } from '../../../src/sandbox/fake-callee';
import { startBridge, type TestBridge } from '../../support/bridge';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { OUR_NUMBER, OUTBOUND_ENV } from '../../support/outbound';
import { sleep, waitFor } from '../../support/wait';
import { api, campaignClient, numbers } from './support';

/**
 * Attempts the outbound side must finish for the campaign: one whose final status callback was refused
 * (Twilio never sends it again), looked at Twilio once the task is stale, and attempts still queued as
 * outbound calls when the campaign is canceled, which a cancel stops (and the worker does not dial even when
 * the cancel could not reach them), or paused, which holds them until it is resumed. Real web app, worker, Redis and
 * BullMQ; the fake Twilio.
 */
jest.setTimeout(60_000);

describe('campaign attempts the outbound side finishes', () => {
  let bridge: TestBridge;
  let now = Date.UTC(2026, 2, 4, 18, 0);
  const start = async () => {
    bridge = await startBridge({ ...OUTBOUND_ENV, ...EVENTS_ENV, TWILIO_CPS: '20' }, { worker: true, campaigns: { clock: () => now, campaignTickMs: 100 } });
    bridge.twilio.addNumber(OUR_NUMBER);
  };
  afterEach(() => bridge.close());

  const { creates, campaign, create } = campaignClient(() => bridge);
  /** A campaign of `n` tasks whose attempts are all queued as outbound calls, waiting there while Retell has no room. */
  const queuedCampaign = async (n: number, from: number) => {
    bridge.retell.concurrency = { current: 20, limit: 20 };
    const id = await create({ tasks: numbers(n, from).map((to) => ({ to })), max_concurrency: n });
    await waitFor('every task to be queued', async () => (await campaign(id)).counts.dialing === n, 15_000, 100);
    return id;
  };
  /** Placements held because their campaign was paused, from the worker's metrics. */
  const heldCount = async () => bridge.worker!.metrics.outboundPlacements.get().then((m) => m.values.find((v) => v.labels.result === 'held')?.value ?? 0);
  const eventsFor = async (type: string, id: string) => (await eventsOf(bridge, type)).filter((e: any) => e.data.campaign_id === id);

  it('when an attempt\'s final status callback is refused, then the stale task is looked at Twilio and completes once, and the late callback changes nothing', async () => {
    now = Date.UTC(2026, 2, 4, 18, 0);
    await start();
    const held: Array<() => Promise<SentWebhook>> = [];
    const callee = bridge.twilio.callee;
    const deliver = callee.deliver.bind(callee);
    callee.deliver = async (kind, callSid, url, params) => {
      if (kind !== 'status' || params.CallStatus !== 'completed') return deliver(kind, callSid, url, params);
      held.push(() => deliver(kind, callSid, url, params));
      return { kind, url, callSid, params, status: 503, body: '', at: Date.now() };
    };
    callee.defaultScript = { answer: 'human', hangUpAfterMs: 300 };
    const id = await create({ tasks: numbers(1, 700).map((to) => ({ to })) });
    await waitFor('the callee to hang up (callback refused)', () => held.length === 1, 15_000, 100);
    await sleep(500);
    expect((await campaign(id)).counts).toMatchObject({ in_progress: 1, completed: 0 });

    // Nothing heard of the task for STALE_AFTER_MS: the scheduler looks at its call at Twilio.
    now += STALE_AFTER_MS + 1000;
    await waitFor('the campaign to complete', async () => (await campaign(id)).status === 'completed', 15_000, 100);
    const [task] = (await api(bridge, 'GET', `/campaigns/${id}/tasks`)).body.tasks;
    expect(task).toMatchObject({ status: 'completed', outcome: 'completed' });
    expect(task.attempts).toHaveLength(1);

    expect((await held[0]!()).status).toBe(204);
    await sleep(800);
    expect((await campaign(id)).counts).toMatchObject({ total: 1, completed: 1, in_progress: 0 });
    expect((await api(bridge, 'GET', `/campaigns/${id}/tasks`)).body.tasks[0].attempts).toHaveLength(1);
    expect(await eventsFor('campaign.task.completed', id)).toHaveLength(1);
    expect(await eventsFor('campaign.completed', id)).toHaveLength(1);
    expect(creates()).toHaveLength(1);
  });

  it('when a campaign is paused while its attempts wait in the outbound queue, then none is dialed until it is resumed, and each is dialed once then', async () => {
    now = Date.UTC(2026, 2, 4, 18, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 200 };
    const id = await queuedCampaign(4, 850);

    expect((await api(bridge, 'POST', `/campaigns/${id}/pause`)).status).toBe(200);
    bridge.retell.concurrency = { current: 0, limit: 20 };
    // The queue is free again (Retell has room), and the held attempts are looked at more than once.
    await waitFor('the held attempts to be looked at', async () => (await heldCount()) >= 4, 15_000, 100);
    await sleep(1000);
    expect(creates()).toHaveLength(0);
    expect((await campaign(id)).counts).toMatchObject({ total: 4, dialing: 4, completed: 0 });

    expect((await api(bridge, 'POST', `/campaigns/${id}/resume`)).status).toBe(200);
    await waitFor('the campaign to complete', async () => (await campaign(id)).status === 'completed', 30_000, 100);
    expect(creates().map((r) => r.form.To).sort()).toEqual(numbers(4, 850).sort());
    const tasks = (await api(bridge, 'GET', `/campaigns/${id}/tasks`)).body.tasks as Array<{ status: string; attempts: unknown[] }>;
    expect(tasks.map((t) => [t.status, t.attempts.length])).toEqual([
      ['completed', 1],
      ['completed', 1],
      ['completed', 1],
      ['completed', 1],
    ]);
  });

  it('when a campaign is canceled while its attempts wait in the outbound queue, then none is dialed and each task ends canceled', async () => {
    now = Date.UTC(2026, 2, 4, 18, 0);
    await start();
    const id = await queuedCampaign(4, 800);
    expect(creates()).toHaveLength(0);

    const cancel = await api(bridge, 'POST', `/campaigns/${id}/cancel`);
    expect(cancel.status).toBe(200);
    bridge.retell.concurrency = { current: 0, limit: 20 };
    await waitFor('the campaign to end', async () => Boolean((await campaign(id)).ended_at), 15_000, 100);
    await sleep(2500);
    expect(creates()).toHaveLength(0);
    const view = await campaign(id);
    expect(view).toMatchObject({ status: 'canceled', counts: { total: 4, canceled: 4, dialing: 0, in_progress: 0, completed: 0 } });
    const tasks = (await api(bridge, 'GET', `/campaigns/${id}/tasks`)).body.tasks as Array<{ status: string; outcome?: string }>;
    expect(tasks.map((t) => t.status)).toEqual(['canceled', 'canceled', 'canceled', 'canceled']);
    expect(tasks.map((t) => t.outcome)).toEqual(['canceled', 'canceled', 'canceled', 'canceled']);
    const ended = await eventsFor('campaign.completed', id);
    expect(ended.map((e: any) => e.data.status)).toEqual(['canceled']);
    // The outbound calls ended canceled, once each.
    expect((await eventsOf(bridge, 'outbound.completed')).map((e: any) => e.data.outcome)).toEqual(['canceled', 'canceled', 'canceled', 'canceled']);
  });

  it('when a canceled campaign\'s queued attempts were never reached by the cancel (its web process stopped right after), then the worker does not dial them and the campaign ends canceled', async () => {
    now = Date.UTC(2026, 2, 4, 18, 0);
    await start();
    const id = await queuedCampaign(3, 870);

    // The cancel's own script only: what a web process that stopped before canceling the queued calls leaves.
    expect((await bridge.container.campaignRepository.control(id, 'cancel', now)).kind).toBe('ok');
    bridge.retell.concurrency = { current: 0, limit: 20 };
    await waitFor('the campaign to end', async () => Boolean((await campaign(id)).ended_at), 20_000, 100);
    // The outbound calls' own events reach the events store through the worker's dispatcher, a little later.
    await waitFor('the attempts\' outbound.completed events', async () => (await eventsOf(bridge, 'outbound.completed')).length >= 3, 15_000, 100);
    await sleep(1500);
    expect(creates()).toHaveLength(0);
    expect((await campaign(id)).counts).toMatchObject({ total: 3, canceled: 3, dialing: 0 });
    expect((await eventsOf(bridge, 'outbound.completed')).map((e: any) => e.data.outcome)).toEqual(['canceled', 'canceled', 'canceled']);
  });
});
