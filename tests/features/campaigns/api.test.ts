import { startBridge, type TestBridge } from '../../support/bridge';
import { OUTBOUND_ENV } from '../../support/outbound';
import { api, numbers } from './support';

/** The campaign API against the real web app and Redis (no worker: nothing is dialed here). */
describe('campaign API', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge(OUTBOUND_ENV);
  });
  afterAll(() => bridge.close());

  const create = (body: Record<string, unknown> = {}, key?: string) => api(bridge, 'POST', '/campaigns', { paused: true, ...body }, { key });

  it('when created with inline tasks, then it answers 201 with the id, status and counts, and GET shows them', async () => {
    const res = await create({ name: 'Spring', tasks: numbers(3).map((to) => ({ to, dynamic_variables: { first: 'A' } })) });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: expect.stringMatching(/^cmp_[0-9a-f]{32}$/), status: 'paused', counts: { total: 3, pending: 3 } });
    const got = await api(bridge, 'GET', `/campaigns/${res.body.id}`);
    expect(got.body).toMatchObject({ id: res.body.id, name: 'Spring', status: 'paused', counts: { total: 3, pending: 3, scheduled: 0, dialing: 0, in_progress: 0, completed: 0, canceled: 0, skipped_dnc: 0 }, outcomes: {} });
    const list = await api(bridge, 'GET', '/campaigns');
    expect(list.body.campaigns.map((c: { id: string }) => c.id)).toContain(res.body.id);
  });

  it('when an inline task is bad, then 400 names each bad one by index and nothing is created', async () => {
    const before = (await api(bridge, 'GET', '/campaigns?limit=200')).body.campaigns.length;
    const res = await create({ tasks: [{ to: '+14155550101' }, { to: '12345' }, { to: '+14155550102', timezone: 'Mars/Olympus' }, 'x'] });
    expect(res.status).toBe(400);
    expect(res.body.tasks.map((t: { index: number }) => t.index)).toEqual([1, 2, 3]);
    expect(res.body.tasks[1].reason).toMatch(/IANA/);
    expect((await api(bridge, 'GET', '/campaigns?limit=200')).body.campaigns.length).toBe(before);
  });

  it.each([
    [{ window: { start: '17:00', end: '09:00' } }, /window.end must be after window.start/],
    [{ window: { start: '9am', end: '17:00' } }, /HH:MM/],
    [{ window: { start: '09:00', end: '17:00', timezone: 'Nowhere/City' } }, /IANA/],
    [{ window: { start: '09:00', end: '17:00', days: ['funday'] } }, /window.days/],
    [{ retry: { on: ['no_answer'], max_attempts: 0, delay_s: 60 } }, /max_attempts/],
    [{ retry: { on: ['no_answer'], max_attempts: 1000, delay_s: 60 } }, /max_attempts/],
    [{ retry: { on: ['no_answer'], max_attempts: 3, delay_s: 0 } }, /delay_s/],
    [{ retry: { on: ['nope'], max_attempts: 3 } }, /retry.on/],
    [{ max_concurrency: 0 }, /max_concurrency/],
    [{ max_concurrency: 100000 }, /max_concurrency/],
    [{ start_at: 'tomorrow' }, /start_at/],
    [{ surprise: true }, /surprise|Unrecognized/i],
  ])('when the settings are %j, then 400 with the reason', async (body, reason) => {
    const res = await create(body);
    expect(res.status).toBe(400);
    expect(res.body.reason).toMatch(reason);
  });

  it('when the body nests too deep or is not JSON, then 400, never 5xx', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    expect((await api(bridge, 'POST', '/campaigns', undefined, { raw: `{"tasks":${deep}}` })).status).toBe(400);
    expect((await api(bridge, 'POST', '/campaigns', undefined, { raw: '{nope' })).status).toBe(400);
    const meta = { tasks: [{ to: '+14155550101', metadata: JSON.parse(`${'{"a":'.repeat(30)}1${'}'.repeat(30)}`) }] };
    const res = await create(meta);
    expect(res.status).toBe(400);
  });

  it('when an Idempotency-Key is repeated with the same body, then the same campaign; with another body, 422', async () => {
    const body = { name: 'Once', tasks: [{ to: '+14155550111' }] };
    const a = await create(body, 'key-cmp-1');
    const b = await create(body, 'key-cmp-1');
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.counts.total).toBe(1);
    const c = await create({ ...body, name: 'Other' }, 'key-cmp-1');
    expect(c.status).toBe(422);
    expect(c.body.error).toBe('key_reused');
  });

  describe('adding tasks', () => {
    let id: string;
    beforeAll(async () => {
      id = (await create({ window: { start: '09:00', end: '17:00', timezone: 'Europe/Paris' } })).body.id;
    });
    const add = (csv: string, key?: string) => api(bridge, 'POST', `/campaigns/${id}/tasks`, undefined, { csv, key });

    it('when a CSV has a BOM, CRLF, quoted commas and empty lines, then every row is read, its other columns variables', async () => {
      const res = await add('\uFEFFto,first_name,note\r\n+14155550121,Ada,"hello, world"\r\n\r\n+14155550122,"Bob ""B""",x\r\n');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ added: 2, skipped: [] });
      const page = await api(bridge, 'GET', `/campaigns/${id}/tasks`);
      expect(page.body.tasks).toEqual([
        expect.objectContaining({ to: '+14155550121', status: 'pending', timezone: 'America/Los_Angeles', dynamic_variables: { first_name: 'Ada', note: 'hello, world' }, attempts: [] }),
        expect.objectContaining({ to: '+14155550122', dynamic_variables: { first_name: 'Bob "B"', note: 'x' } }),
      ]);
      expect(page.body.next_cursor).toBeNull();
    });

    it('when rows are bad or numbers repeat, then the good ones are added and each other is listed by row with its reason', async () => {
      const res = await add('to,timezone\n+14155550131,\n+14155550131,\nnot-a-number,\n+14155550132,Not/AZone\n+14155550121,\n+33142685300,Europe/Paris\n');
      expect(res.status).toBe(200);
      expect(res.body.added).toBe(2);
      expect(res.body.skipped).toEqual([
        { row: 3, reason: expect.stringMatching(/duplicate/) },
        { row: 4, reason: expect.stringMatching(/E.164/) },
        { row: 5, reason: expect.stringMatching(/IANA/) },
        { row: 6, reason: expect.stringMatching(/duplicate/) },
      ]);
      expect((await api(bridge, 'GET', `/campaigns/${id}`)).body.counts.total).toBe(4);
    });

    it('when the CSV has no "to" column or does not parse, then 400', async () => {
      const a = await add('phone,name\n+14155550141,A\n');
      expect(a.status).toBe(400);
      expect(a.body.reason).toMatch(/"to" column/);
      expect((await add('to,name\n"+14155550141,A\n')).status).toBe(400);
    });

    it('when the body is over 10 MB, then 413', async () => {
      const big = `to,pad\n${'+14155550151,'.padEnd(1000, 'x')}\n`.repeat(10_600);
      const res = await add(big);
      expect(res.status).toBe(413);
    });

    it('when more than 10,000 tasks come in one request, then 400', async () => {
      const res = await api(bridge, 'POST', `/campaigns/${id}/tasks`, { tasks: numbers(10_001).map((to) => ({ to })) });
      expect(res.status).toBe(400);
      expect(res.body.reason).toMatch(/10000/);
    });

    it('when the same Idempotency-Key comes again, then the first answer; with another body, 422', async () => {
      const csv = 'to\n+14155550161\n+14155550162\n';
      const a = await add(csv, 'tasks-key-1');
      const b = await add(csv, 'tasks-key-1');
      expect(a.body).toEqual({ added: 2, skipped: [] });
      expect(b.status).toBe(200);
      expect(b.body).toEqual(a.body);
      expect((await add('to\n+14155550163\n', 'tasks-key-1')).status).toBe(422);
    });

    it('when a number is on the do-not-call list, then its task is skipped_dnc at once', async () => {
      expect((await api(bridge, 'POST', '/dnc', { numbers: ['+14155550171'] })).status).toBeLessThan(300);
      const res = await add('to\n+14155550171\n');
      expect(res.body.added).toBe(1);
      const page = await api(bridge, 'GET', `/campaigns/${id}/tasks?status=skipped_dnc`);
      expect(page.body.tasks).toEqual([expect.objectContaining({ to: '+14155550171', status: 'skipped_dnc', outcome: 'do_not_call' })]);
      expect((await api(bridge, 'GET', `/campaigns/${id}`)).body.counts.skipped_dnc).toBe(1);
    });

    it('when tasks are paged, then the cursor walks them in order and a bad status or cursor is 400', async () => {
      const first = await api(bridge, 'GET', `/campaigns/${id}/tasks?limit=2`);
      expect(first.body.tasks).toHaveLength(2);
      const second = await api(bridge, 'GET', `/campaigns/${id}/tasks?limit=2&cursor=${first.body.next_cursor}`);
      expect(second.body.tasks[0].id).not.toBe(first.body.tasks[0].id);
      expect((await api(bridge, 'GET', `/campaigns/${id}/tasks?status=weird`)).status).toBe(400);
      expect((await api(bridge, 'GET', `/campaigns/${id}/tasks?cursor=abc`)).status).toBe(400);
    });

    it('when results.csv is asked for, then one row per task with its variables', async () => {
      const res = await api(bridge, 'GET', `/campaigns/${id}/results.csv`);
      expect(res.status).toBe(200);
      const lines = res.text.trim().split('\r\n');
      expect(lines[0]).toBe('to,status,outcome,attempts,call_sid,retell_call_id,answered_by,first_name,note');
      expect(lines[1]).toBe('+14155550121,pending,,0,,,,Ada,"hello, world"');
      expect(lines.length - 1).toBe((await api(bridge, 'GET', `/campaigns/${id}`)).body.counts.total);
    });
  });

  it('when paused, resumed and canceled, then each is defined; cancel ends every waiting task and later controls say so', async () => {
    const { id } = (await create({ tasks: numbers(5, 100).map((to) => ({ to })) })).body;
    expect((await api(bridge, 'POST', `/campaigns/${id}/resume`)).body.status).toBe('running');
    expect((await api(bridge, 'POST', `/campaigns/${id}/pause`)).body.status).toBe('paused');
    const [a, b] = await Promise.all([api(bridge, 'POST', `/campaigns/${id}/pause`), api(bridge, 'POST', `/campaigns/${id}/cancel`)]);
    expect([a.status, b.status].sort()).toEqual(a.status === 409 ? [200, 409] : [200, 200]);
    const canceled = await api(bridge, 'GET', `/campaigns/${id}`);
    expect(canceled.body).toMatchObject({ status: 'canceled', counts: { total: 5, pending: 0, canceled: 5 } });
    expect((await api(bridge, 'POST', `/campaigns/${id}/resume`)).status).toBe(409);
    expect((await api(bridge, 'POST', `/campaigns/${id}/tasks`, { tasks: [{ to: '+14155550181' }] })).status).toBe(409);
    const page = await api(bridge, 'GET', `/campaigns/${id}/tasks?status=canceled`);
    expect(page.body.tasks).toHaveLength(5);
  });

  it('when the token is missing or the campaign unknown, then 401 or 404', async () => {
    expect((await fetch(`${bridge.url}/campaigns`)).status).toBe(401);
    expect((await api(bridge, 'GET', '/campaigns/cmp_00000000000000000000000000000000')).status).toBe(404);
    expect((await api(bridge, 'GET', '/campaigns/nope')).status).toBe(404);
    expect((await api(bridge, 'POST', '/campaigns/cmp_00000000000000000000000000000000/tasks', { tasks: [] })).status).toBe(404);
  });
});
