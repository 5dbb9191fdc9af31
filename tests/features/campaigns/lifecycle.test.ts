import { campaignKeys } from '../../../src/features/campaigns';
import { startBridge, type TestBridge } from '../../support/bridge';
import { eventsOf, EVENTS_ENV } from '../../support/events';
import { OUR_NUMBER, OUTBOUND_ENV } from '../../support/outbound';
import { sleep, waitFor } from '../../support/wait';
import { api, campaignClient, numbers } from './support';

/**
 * How campaigns end: a cancel (campaign.completed once its calls under way are over), tasks skipped at
 * import (their events, and a campaign with nothing left), a campaign with no task yet, and the
 * retention of an ended campaign's keys. The real web app and worker on Redis and BullMQ, the fake Twilio.
 */
jest.setTimeout(60_000);

const DAY_MS = 24 * 3600 * 1000;
const KEY_SUFFIXES = ['', ':tasks', ':data', ':numbers', ':requests', ':vars', ...['pending', 'scheduled', 'dialing', 'in_progress', 'completed', 'canceled', 'skipped_dnc'].map((s) => `:by:${s}`)];

describe('campaign lifecycle', () => {
  let bridge: TestBridge;
  let now = Date.UTC(2026, 2, 4, 15, 0);
  const start = async (opts: { worker?: boolean; doNotCall?: (n: string[]) => Promise<boolean[]> } = {}) => {
    bridge = await startBridge(
      { ...OUTBOUND_ENV, ...EVENTS_ENV, TWILIO_CPS: '20', CAMPAIGN_RETENTION_DAYS: '2' },
      { worker: opts.worker ?? true, campaigns: { clock: () => now, campaignTickMs: 100, ...(opts.doNotCall ? { doNotCall: opts.doNotCall } : {}) } },
    );
    bridge.twilio.addNumber(OUR_NUMBER);
  };
  afterEach(() => bridge.close());

  const { creates, campaign, create, waitStatus } = campaignClient(() => bridge);
  /** The time to live (ms) of each of the campaign's keys that exists: -1 for none. */
  const ttls = async (id: string) => {
    const base = campaignKeys(bridge.config.redis.prefix).campaign(id);
    const out: number[] = [];
    for (const suffix of KEY_SUFFIXES) if (await bridge.redis.exists(base + suffix)) out.push(await bridge.redis.pttl(base + suffix));
    return out;
  };
  /** Every status filter, page by page (limit 2), gives exactly the tasks the unfiltered listing shows with that status. */
  const expectIndexAgrees = async (id: string) => {
    const all = (await api(bridge, 'GET', `/campaigns/${id}/tasks?limit=1000`)).body.tasks as Array<{ id: string; status: string }>;
    for (const status of ['pending', 'scheduled', 'dialing', 'in_progress', 'completed', 'canceled', 'skipped_dnc']) {
      const seen: string[] = [];
      let cursor: string | null = '';
      for (let pages = 0; cursor !== null && pages < 100; pages++) {
        const page: { body: { tasks: Array<{ id: string; status: string }>; next_cursor: string | null } } = await api(bridge, 'GET', `/campaigns/${id}/tasks?status=${status}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        if (page.body.next_cursor !== null) expect(page.body.tasks).toHaveLength(2);
        seen.push(...page.body.tasks.map((t) => t.id));
        cursor = page.body.next_cursor;
      }
      expect([status, seen]).toEqual([status, all.filter((t) => t.status === status).map((t) => t.id)]);
    }
  };
  const completedOf = async (id: string) => (await eventsOf(bridge, 'campaign.completed')).filter((e: any) => e.data.campaign_id === id);

  it('when a campaign is canceled with a call under way, then campaign.completed (status canceled, its counts) comes once the call ends, once, and only then do its keys expire', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'human' };
    const id = await create({ tasks: numbers(5, 500).map((to) => ({ to, dynamic_variables: { n: to } })), max_concurrency: 1 });
    await waitFor('the first call to be answered', async () => (await campaign(id)).counts.in_progress === 1, 15_000, 100);
    const cancel = await api(bridge, 'POST', `/campaigns/${id}/cancel`);
    expect(cancel.body).toMatchObject({ status: 'canceled', counts: { canceled: 4, in_progress: 1 } });
    await sleep(800);
    expect(await completedOf(id)).toHaveLength(0);
    expect((await ttls(id)).every((t) => t === -1)).toBe(true);
    expect(await campaign(id)).not.toHaveProperty('expires_at');

    const [sid] = [...bridge.twilio.callee.placed.keys()];
    bridge.twilio.hangUp(sid!);
    await waitFor('campaign.completed', async () => (await completedOf(id)).length === 1, 15_000, 100);
    const [ended] = await completedOf(id);
    expect(ended!.data).toEqual({ campaign_id: id, status: 'canceled', counts: { total: 5, pending: 0, scheduled: 0, dialing: 0, in_progress: 0, completed: 1, canceled: 4, skipped_dnc: 0 } });
    const kept = await ttls(id);
    expect(kept.length).toBeGreaterThanOrEqual(4);
    for (const t of kept) expect(t).toBeGreaterThan(2 * DAY_MS - 60_000);
    for (const t of kept) expect(t).toBeLessThanOrEqual(2 * DAY_MS);
    const view = await campaign(id);
    expect(view.status).toBe('canceled');
    expect(Date.parse(view.expires_at) - Date.parse(view.ended_at)).toBe(2 * DAY_MS);
    await expectIndexAgrees(id);
    // Later ticks, controls and a repeated cancel send nothing more.
    expect((await api(bridge, 'POST', `/campaigns/${id}/cancel`)).status).toBe(200);
    await sleep(800);
    expect(await completedOf(id)).toHaveLength(1);
    expect(creates()).toHaveLength(1);
  });

  it('when a campaign is canceled with no call under way, then campaign.completed (status canceled) is sent at once, and its keys expire', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start({ worker: false });
    const id = await create({ tasks: numbers(3, 600).map((to) => ({ to })), paused: true });
    expect((await ttls(id)).every((t) => t === -1)).toBe(true);
    await api(bridge, 'POST', `/campaigns/${id}/cancel`);
    const sent = await completedOf(id);
    expect(sent.map((e: any) => e.data)).toEqual([{ campaign_id: id, status: 'canceled', counts: expect.objectContaining({ total: 3, canceled: 3 }) }]);
    for (const t of await ttls(id)) expect(t).toBeGreaterThan(2 * DAY_MS - 60_000);
    await api(bridge, 'POST', `/campaigns/${id}/cancel`);
    expect(await completedOf(id)).toHaveLength(1);
  });

  it('when every task is on the do-not-call list at import, then each sends campaign.task.completed (skipped_dnc, attempts 0) and the campaign completes, once', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    const listed = numbers(3, 700);
    expect((await api(bridge, 'POST', '/dnc', { numbers: listed })).status).toBeLessThan(300);
    const id = await create({ tasks: listed.map((to) => ({ to })) });
    await waitStatus(id, 'completed');
    const done = (await eventsOf(bridge, 'campaign.task.completed')).map((e: any) => e.data).sort((a: any, b: any) => a.task_id.localeCompare(b.task_id));
    expect(done).toEqual(listed.map((to, i) => ({ campaign_id: id, task_id: `tsk_${i + 1}`, to, outcome: 'do_not_call', attempts: 0 })));
    await waitFor('campaign.completed', async () => (await completedOf(id)).length === 1, 10_000, 100);
    expect((await completedOf(id))[0]!.data).toEqual({ campaign_id: id, status: 'completed', counts: expect.objectContaining({ total: 3, skipped_dnc: 3 }) });
    for (const t of await ttls(id)) expect(t).toBeGreaterThan(2 * DAY_MS - 60_000);
    await sleep(500);
    expect(await completedOf(id)).toHaveLength(1);
    expect(creates()).toHaveLength(0);
    await expectIndexAgrees(id);
  });

  it('when a paused campaign is filled with listed numbers only, then it waits for the resume, which completes it', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    expect((await api(bridge, 'POST', '/dnc', { numbers: ['+12125550301', '+12125550302'] })).status).toBeLessThan(300);
    const id = await create({ paused: true });
    const csv = 'to,first_name\n+12125550301,Ada\n+12125550302,Bob\n';
    const first = await api(bridge, 'POST', `/campaigns/${id}/tasks`, undefined, { csv, key: 'dnc-import-1' });
    expect(first.body).toEqual({ added: 2, skipped: [] });
    // The same request again is the same answer, and sends no events again.
    await api(bridge, 'POST', `/campaigns/${id}/tasks`, undefined, { csv, key: 'dnc-import-1' });
    await waitFor('the task events', async () => (await eventsOf(bridge, 'campaign.task.completed')).length === 2, 10_000, 100);
    await sleep(500);
    expect((await eventsOf(bridge, 'campaign.task.completed')).map((e: any) => [e.data.to, e.data.outcome, e.data.attempts])).toEqual(
      expect.arrayContaining([
        ['+12125550301', 'do_not_call', 0],
        ['+12125550302', 'do_not_call', 0],
      ]),
    );
    expect((await campaign(id)).status).toBe('paused');
    expect(await completedOf(id)).toHaveLength(0);
    expect((await ttls(id)).every((t) => t === -1)).toBe(true);
    const resumed = await api(bridge, 'POST', `/campaigns/${id}/resume`);
    expect(resumed.body.status).toBe('completed');
    await waitFor('campaign.completed', async () => (await completedOf(id)).length === 1, 10_000, 100);
    expect((await completedOf(id))[0]!.data).toMatchObject({ status: 'completed', counts: { total: 2, skipped_dnc: 2 } });
  });

  it('when a campaign is created running with no task, then it stays running (no completion, no event) until tasks come, and completes after them', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    bridge.twilio.callee.defaultScript = { answer: 'busy' };
    const id = await create({});
    expect((await campaign(id)).status).toBe('running');
    await sleep(800);
    expect(await campaign(id)).toMatchObject({ status: 'running', counts: { total: 0 } });
    expect(await completedOf(id)).toHaveLength(0);
    await api(bridge, 'POST', `/campaigns/${id}/tasks`, { tasks: [{ to: '+12125550311' }, { to: '+12125550312' }] });
    await waitFor('a first attempt', () => creates().length >= 1, 10_000, 50);
    // Not before it ends.
    expect((await ttls(id)).every((t) => t === -1)).toBe(true);
    await waitStatus(id, 'completed');
    expect(creates()).toHaveLength(2);
    await expectIndexAgrees(id);
    await waitFor('campaign.completed', async () => (await completedOf(id)).length === 1, 10_000, 100);
    for (const t of await ttls(id)) expect(t).toBeGreaterThan(2 * DAY_MS - 60_000);
  });

  it('when the scheduler finds a listed campaign whose record is not written yet, then it keeps it listed; a minute on, it drops it', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start();
    const keys = campaignKeys(bridge.config.redis.prefix);
    const id = 'cmp_0123456789abcdef0123456789abcdef';
    // What a create does first: list the campaign, then write it.
    await bridge.redis.multi().zadd(keys.all, now, id).sadd(keys.active, id).exec();
    await sleep(800);
    expect(await bridge.redis.sismember(keys.active, id)).toBe(1);
    now += 61_000;
    await waitFor('the orphan to leave the list', async () => (await bridge.redis.sismember(keys.active, id)) === 0, 10_000, 100);
  });

  it('when an ended campaign\'s records have expired, then the list leaves it out and forgets it', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start({ worker: false });
    const id = await create({ tasks: [{ to: '+12125550321' }], paused: true });
    await api(bridge, 'POST', `/campaigns/${id}/cancel`);
    const base = campaignKeys(bridge.config.redis.prefix).campaign(id);
    await bridge.redis.del(...KEY_SUFFIXES.map((s) => base + s));
    now += 120_000;
    const list = await api(bridge, 'GET', '/campaigns?limit=200');
    expect(list.body.campaigns.map((c: { id: string }) => c.id)).not.toContain(id);
    expect(await bridge.redis.zscore(campaignKeys(bridge.config.redis.prefix).all, id)).toBeNull();
    expect((await api(bridge, 'GET', `/campaigns/${id}`)).status).toBe(404);
  });

  it('when 10,000 imported rows are all on the do-not-call list, then 10,000 events are written and the import stays quick', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start({ worker: false, doNotCall: async (n) => n.map(() => true) });
    const id = await create({ paused: true });
    const csv = `to\n${numbers(10_000, 10_000).join('\n')}\n`;
    const began = Date.now();
    const res = await api(bridge, 'POST', `/campaigns/${id}/tasks`, undefined, { csv });
    const tookMs = Date.now() - began;
    expect(res.body).toEqual({ added: 10_000, skipped: [] });
    expect((await campaign(id)).counts).toMatchObject({ total: 10_000, skipped_dnc: 10_000, pending: 0 });
    const events = await eventsOf(bridge, 'campaign.task.completed');
    expect(events).toHaveLength(10_000);
    expect(new Set(events.map((e) => e.id)).size).toBe(10_000);
    // A generous bound for a loaded machine; bench/ measures it properly.
    expect(tookMs).toBeLessThan(30_000);
  });

  it('when the tasks are filtered by status, then each page is full (read from the status index) and the cursor goes on exactly', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start({ worker: false });
    const listed = ['+12125550397', '+12125550398', '+12125550399'];
    expect((await api(bridge, 'POST', '/dnc', { numbers: listed })).status).toBeLessThan(300);
    const id = await create({ tasks: [{ to: listed[0] }, ...numbers(45, 800).map((to) => ({ to })), { to: listed[1] }, { to: listed[2] }], paused: true });
    const first = await api(bridge, 'GET', `/campaigns/${id}/tasks?status=skipped_dnc&limit=2`);
    expect(first.body.tasks.map((t: { to: string }) => t.to)).toEqual(listed.slice(0, 2));
    expect(first.body.next_cursor).toBe('48');
    const second = await api(bridge, 'GET', `/campaigns/${id}/tasks?status=skipped_dnc&limit=2&cursor=48`);
    expect(second.body).toEqual({ tasks: [expect.objectContaining({ to: listed[2], status: 'skipped_dnc' })], next_cursor: null });
    await expectIndexAgrees(id);
    // Canceled, its waiting tasks read as canceled under that filter, and under no other.
    await api(bridge, 'POST', `/campaigns/${id}/cancel`);
    expect((await api(bridge, 'GET', `/campaigns/${id}/tasks?status=pending`)).body).toEqual({ tasks: [], next_cursor: null });
    expect((await api(bridge, 'GET', `/campaigns/${id}/tasks?status=canceled&limit=1000`)).body.tasks).toHaveLength(45);
    await expectIndexAgrees(id);
  });

  it('when a campaign predates the status index, then a filtered page reads at most 20 pages\' worth and comes back short with a cursor, and following it finds the rest', async () => {
    now = Date.UTC(2026, 2, 4, 15, 0);
    await start({ worker: false });
    const listed = '+12125550389';
    expect((await api(bridge, 'POST', '/dnc', { numbers: [listed] })).status).toBeLessThan(300);
    const id = await create({ tasks: [...numbers(45, 900).map((to) => ({ to })), { to: listed }], paused: true });
    await bridge.redis.hdel(campaignKeys(bridge.config.redis.prefix).campaign(id), 'ix');
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null && pages < 10) {
      const page: { body: { tasks: Array<{ to: string }>; next_cursor: string | null } } = await api(bridge, 'GET', `/campaigns/${id}/tasks?status=skipped_dnc&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      if (pages === 0) {
        expect(page.body.tasks).toEqual([]);
        expect(page.body.next_cursor).toBe('41');
      }
      seen.push(...page.body.tasks.map((t) => t.to));
      cursor = page.body.next_cursor;
      pages++;
    }
    expect(seen).toEqual([listed]);
    expect(cursor).toBeNull();
  });
});
