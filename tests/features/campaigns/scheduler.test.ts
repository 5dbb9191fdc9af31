import { startBridge, type TestBridge } from '../../support/bridge';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { getCall, OUR_NUMBER, OUTBOUND_ENV } from '../../support/outbound';
import { sleep, waitFor } from '../../support/wait';
import { api, campaignClient } from './support';

/**
 * Campaigns end to end: the real web app and worker (scheduler ticking every 100 ms) on Redis and
 * BullMQ, the fake Twilio's callee answering by number, and a clock the test moves.
 */
describe('campaign scheduler', () => {
  let bridge: TestBridge;
  let now = Date.UTC(2026, 2, 4, 15, 0); // Wednesday 4 March 2026, 10:00 in New York (EST)
  const start = async (env: Record<string, string> = {}) => {
    bridge = await startBridge(
      { ...OUTBOUND_ENV, ...EVENTS_ENV, TWILIO_CPS: '20', ...env },
      { worker: true, campaigns: { clock: () => now, campaignTickMs: 100 } },
    );
    bridge.twilio.addNumber(OUR_NUMBER);
  };
  afterEach(() => bridge.close());

  const { creates, campaign, create, waitStatus } = campaignClient(() => bridge);
  const createsTo = (to: string) => creates().filter((r) => r.form.To === to);
  const tasks = async (id: string) => (await api(bridge, 'GET', `/campaigns/${id}/tasks`)).body.tasks as Array<Record<string, any>>;

  it('when a campaign runs, then each task is dialed once as an outbound call carrying its ids, and it completes with counts, outcomes and events', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.scripts.set('+12125550101', { answer: 'human', hangUpAfterMs: 300 });
    bridge.twilio.callee.scripts.set('+12125550102', { answer: 'no-answer' });
    const id = await create({ tasks: [{ to: '+12125550101', metadata: { crm: 7 } }, { to: '+12125550102' }], window: { start: '09:00', end: '17:00' } });
    await waitStatus(id, 'completed');
    const view = await campaign(id);
    expect(view.counts).toMatchObject({ total: 2, completed: 2, pending: 0, dialing: 0, in_progress: 0 });
    expect(view.outcomes).toEqual({ completed: 1, dial_no_answer: 1 });
    expect(creates()).toHaveLength(2);
    const [answered] = await tasks(id);
    expect(answered).toMatchObject({ status: 'completed', outcome: 'completed', attempts: [{ outbound_id: expect.stringMatching(/^out_/), call_sid: expect.stringMatching(/^CA/), outcome: 'completed' }] });
    const call = (await getCall(bridge, answered!.attempts[0].outbound_id)).body;
    expect(call.metadata).toEqual({ crm: 7, campaign_id: id, task_id: answered!.id });
    await waitFor('the events', async () => (await eventsOf(bridge, 'campaign.completed')).length === 1);
    const done = await eventsOf(bridge, 'campaign.task.completed');
    expect(done.map((e) => e.data).sort((a: any, b: any) => a.to.localeCompare(b.to))).toEqual([
      { campaign_id: id, task_id: 'tsk_1', to: '+12125550101', outcome: 'completed', attempts: 1 },
      { campaign_id: id, task_id: 'tsk_2', to: '+12125550102', outcome: 'dial_no_answer', attempts: 1 },
    ]);
    expect((await eventsOf(bridge, 'campaign.completed'))[0]!.data).toMatchObject({ campaign_id: id, counts: { total: 2, completed: 2 } });
    const outbound = await eventsOf(bridge, 'outbound.completed');
    expect(outbound.every((e: any) => e.data.campaign_id === id && /^tsk_/.test(e.data.task_id))).toBe(true);
    const results = (await api(bridge, 'GET', `/campaigns/${id}/results.csv`)).text.split('\r\n');
    expect(results[1]).toMatch(/^\+12125550101,completed,completed,1,CA[0-9a-f]{32},call_/);
  });

  it('when a task\'s local time is outside its window, then it waits for the next opening (in its own zone, across the DST change) and is dialed then', async () => {
    now = Date.UTC(2026, 2, 7, 20, 0); // Saturday 7 March, 15:00 in New York; DST starts Sunday 8 March
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'busy' };
    const id = await create({ tasks: [{ to: '+12125550111' }, { to: '+14155550112', timezone: 'Asia/Tokyo' }], window: { start: '09:00', end: '17:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] } });
    const waiting = await tasks(id);
    expect(waiting.map((t) => [t.timezone, t.next_attempt_at])).toEqual([
      ['America/New_York', '2026-03-09T13:00:00.000Z'], // Monday 09:00 EDT (UTC-4 since Sunday)
      ['Asia/Tokyo', '2026-03-09T00:00:00.000Z'], // Monday 09:00 JST
    ]);
    await sleep(800);
    expect(creates()).toHaveLength(0);
    now = Date.UTC(2026, 2, 9, 0, 30); // Tokyo open, New York still night
    await waitFor('the Tokyo task to be dialed', () => createsTo('+14155550112').length === 1, 10_000);
    await sleep(500);
    expect(createsTo('+12125550111')).toHaveLength(0);
    now = Date.UTC(2026, 2, 9, 12, 59);
    await sleep(500);
    expect(createsTo('+12125550111')).toHaveLength(0);
    now = Date.UTC(2026, 2, 9, 13, 0);
    await waitStatus(id, 'completed');
    expect(creates()).toHaveLength(2);
  });

  it('when an attempt ends with an outcome in retry.on, then it is dialed again after delay_s up to max_attempts', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'busy' };
    const id = await create({ tasks: [{ to: '+12125550121' }], retry: { on: ['busy'], max_attempts: 3, delay_s: 600 } });
    await waitFor('the first attempt to end', async () => (await tasks(id))[0]!.status === 'scheduled', 10_000, 100);
    const [t] = await tasks(id);
    expect(t).toMatchObject({ status: 'scheduled', attempts: [{ outcome: 'dial_busy' }], next_attempt_at: new Date(now + 600_000).toISOString() });
    await sleep(500);
    expect(creates()).toHaveLength(1);
    now += 600_000;
    await waitFor('the second attempt to end', async () => (await tasks(id))[0]!.attempts.length === 2 && (await tasks(id))[0]!.status === 'scheduled', 10_000, 100);
    now += 600_000;
    await waitStatus(id, 'completed');
    const [final] = await tasks(id);
    expect(final).toMatchObject({ status: 'completed', outcome: 'dial_busy' });
    expect(final!.attempts).toHaveLength(3);
    expect(new Set(final!.attempts.map((a: any) => a.outbound_id)).size).toBe(3);
    expect(creates()).toHaveLength(3);
    expect((await eventsOf(bridge, 'campaign.task.completed'))[0]?.data).toMatchObject({ outcome: 'dial_busy', attempts: 3 });
  });

  it('when max_concurrency is 2, then Twilio never has more than 2 of its calls live at once', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'human', hangUpAfterMs: 400 };
    const to = Array.from({ length: 6 }, (_, i) => `+1212555013${i}`);
    let live = 0;
    let most = 0;
    const id = await create({ tasks: to.map((n) => ({ to: n })), max_concurrency: 2 });
    const seen = new Set<string>();
    const ended = new Set<string>();
    const watch = setInterval(() => {
      for (const [sid, p] of bridge.twilio.callee.placed) {
        seen.add(sid);
        if (p.finished) ended.add(sid);
      }
      live = seen.size - ended.size;
      most = Math.max(most, live);
    }, 10);
    try {
      await waitStatus(id, 'completed', 30_000);
    } finally {
      clearInterval(watch);
    }
    expect(creates()).toHaveLength(6);
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBe(2);
  });

  it('when two campaigns run, then they share the placements in turn', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start({ TWILIO_CPS: '1' });
    bridge.twilio.callee.defaultScript = { answer: 'no-answer', ringMs: 10 };
    const a = await create({ tasks: Array.from({ length: 4 }, (_, i) => ({ to: `+1212555014${i}` })), max_concurrency: 10, paused: true });
    const b = await create({ tasks: Array.from({ length: 4 }, (_, i) => ({ to: `+1212555015${i}` })), max_concurrency: 10, paused: true });
    await Promise.all([api(bridge, 'POST', `/campaigns/${a}/resume`), api(bridge, 'POST', `/campaigns/${b}/resume`)]);
    await waitFor('six placements', () => creates().length >= 6, 30_000, 100);
    const order = creates()
      .slice(0, 6)
      .map((r) => (r.form.To!.startsWith('+1212555014') ? 'a' : 'b'));
    // The queue holds 2 s of placements (TWILIO_CPS 1): past the first fill, each placement goes to the other campaign.
    for (let i = 3; i < 6; i++) expect(order[i]).not.toBe(order[i - 1]);
    expect(order.filter((x) => x === 'a').length).toBeGreaterThanOrEqual(2);
    expect(order.filter((x) => x === 'b').length).toBeGreaterThanOrEqual(2);
  });

  it('when an attempt is answered, then its task counts in_progress until the call ends', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'human' };
    const id = await create({ tasks: [{ to: '+12125550181' }] });
    await waitFor('the call to be answered', async () => (await campaign(id)).counts.in_progress === 1, 15_000, 100);
    expect((await tasks(id))[0]).toMatchObject({ status: 'in_progress' });
    const [sid] = [...bridge.twilio.callee.placed.keys()];
    bridge.twilio.hangUp(sid!);
    await waitStatus(id, 'completed');
    expect((await campaign(id)).counts).toMatchObject({ in_progress: 0, completed: 1 });
  });

  it('when start_at is ahead, then the campaign stays scheduled and dials nothing until then; the metrics show its progress', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'busy' };
    const id = await create({ tasks: [{ to: '+12125550191' }, { to: '+12125550192' }], start_at: new Date(now + 3600_000).toISOString() });
    expect((await campaign(id)).status).toBe('scheduled');
    expect((await tasks(id))[0]!.next_attempt_at).toBe(new Date(now + 3600_000).toISOString());
    await sleep(600);
    expect(creates()).toHaveLength(0);
    const metrics = bridge.worker!.metrics.prometheus;
    expect(await metrics.getSingleMetricAsString('bridge_campaign_tasks_due')).toMatch(/bridge_campaign_tasks_due 0/);
    now += 3600_000;
    await waitStatus(id, 'completed');
    expect(creates()).toHaveLength(2);
    expect(await metrics.getSingleMetricAsString('bridge_campaign_dials_total')).toMatch(/result="placed"} 2/);
    expect(await metrics.getSingleMetricAsString('bridge_campaign_tasks_completed_total')).toMatch(/outcome="dial_busy"} 2/);
  });

  it('when a number is put on the do-not-call list after import, then its task ends skipped_dnc without a dial', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'busy' };
    const id = await create({ tasks: [{ to: '+12125550161' }, { to: '+12125550162' }], paused: true });
    expect((await api(bridge, 'POST', '/dnc', { numbers: ['+12125550161'] })).status).toBeLessThan(300);
    await api(bridge, 'POST', `/campaigns/${id}/resume`);
    await waitStatus(id, 'completed');
    expect(createsTo('+12125550161')).toHaveLength(0);
    const [skipped] = await tasks(id);
    expect(skipped).toMatchObject({ status: 'skipped_dnc', outcome: 'do_not_call', attempts: [] });
    expect((await campaign(id)).counts).toMatchObject({ total: 2, skipped_dnc: 1, completed: 1 });
  });

  it('when a campaign is paused, then nothing more is dialed until it resumes; canceled, its waiting tasks never are', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start({ TWILIO_CPS: '1' });
    bridge.twilio.callee.defaultScript = { answer: 'no-answer', ringMs: 10 };
    const id = await create({ tasks: Array.from({ length: 8 }, (_, i) => ({ to: `+1212555017${i}` })), max_concurrency: 1 });
    await waitFor('a first placement', () => creates().length >= 1, 10_000, 50);
    await api(bridge, 'POST', `/campaigns/${id}/pause`);
    const atPause = creates().length;
    await sleep(2500);
    // At most the one already begun when the pause came.
    expect(creates().length).toBeLessThanOrEqual(atPause + 1);
    const afterPause = creates().length;
    await api(bridge, 'POST', `/campaigns/${id}/resume`);
    await waitFor('another placement', () => creates().length > afterPause, 10_000, 50);
    const cancel = await api(bridge, 'POST', `/campaigns/${id}/cancel`);
    expect(cancel.body.status).toBe('canceled');
    const atCancel = creates().length;
    await sleep(2500);
    expect(creates().length).toBeLessThanOrEqual(atCancel + 1);
    const view = await campaign(id);
    expect(view.counts.canceled + view.counts.completed + view.counts.dialing + view.counts.in_progress).toBe(8);
    expect(view.counts.canceled).toBeGreaterThanOrEqual(8 - creates().length);
  });
});
