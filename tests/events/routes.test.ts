/**
 * GET /events and POST /events/{id}/redeliver on the real web app, Redis and worker, with a local receiver.
 */
import type { EventPayloads } from '../../src/features/events';
import { startBridge, type TestBridge } from '../support/bridge';
import { EventReceiver } from '../support/event-receiver';
import { API_TOKEN, OUTBOUND_ENV } from '../support/outbound';
import { sleep, waitFor } from '../support/wait';

const started = (n: number): EventPayloads['call.started'] => ({
  call_sid: `CA${String(n).padStart(32, '0')}`,
  retell_call_id: `call_${n}`,
  direction: 'inbound',
  from: '+14155550199',
  to: '+14155550100',
  agent_id: 'agent_default',
});

interface Listed {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
  delivery: { status: string; attempts: number };
}

describe('GET /events and POST /events/{id}/redeliver', () => {
  let receiver: EventReceiver;
  let bridge: TestBridge;
  beforeEach(async () => {
    receiver = await EventReceiver.start();
    bridge = await startBridge({ ...OUTBOUND_ENV, EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: receiver.secret }, { worker: true, eventRetryDelaysMs: [200, 400] });
  });
  afterEach(async () => {
    await bridge.close();
    await receiver.stop();
  });

  const get = (query = '', token: string | null = API_TOKEN) => fetch(`${bridge.url}/events${query}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const redeliver = (id: string, token: string | null = API_TOKEN) =>
    fetch(`${bridge.url}/events/${id}/redeliver`, { method: 'POST', headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const list = async (query = ''): Promise<Listed[]> => {
    const res = await get(query);
    expect(res.status).toBe(200);
    return ((await res.json()) as { events: Listed[] }).events;
  };

  /** Emits `n` call.started events a few ms apart, then one transfer.started, and waits until all are delivered. */
  async function emitSome(n: number): Promise<void> {
    for (let i = 1; i <= n; i++) {
      await bridge.events.emit('call.started', started(i));
      await sleep(5);
    }
    await bridge.events.emit('transfer.started', { call_sid: started(1).call_sid, kind: 'cold', destination: 'sales', to: '+14155550101' });
    await waitFor('every event delivered', async () => (await bridge.eventStore.list({ limit: 100 })).filter((e) => e.deliveries.events?.status === 'delivered').length === n + 1);
  }

  it('when asked with the token, then the recent events come newest first, with their data and delivery', async () => {
    await emitSome(3);
    const events = await list();
    expect(events.map((e) => e.type)).toEqual(['transfer.started', 'call.started', 'call.started', 'call.started']);
    expect(events.slice(1).map((e) => e.data.retell_call_id)).toEqual(['call_3', 'call_2', 'call_1']);
    expect(events[1]).toEqual({
      id: expect.stringMatching(/^evt_/),
      type: 'call.started',
      timestamp: expect.any(String),
      data: started(3),
      delivery: { status: 'delivered', attempts: 1, last_attempt_at: expect.any(String), last_answer: '204', delivered_at: expect.any(String) },
    });
    // What was listed is what the receiver got.
    expect(receiver.withId(events[1]!.id)[0]!.json).toEqual({ type: 'call.started', timestamp: events[1]!.timestamp, data: started(3) });
  });

  it('when filtered by type, by a prefix, by since and limit, then only those events', async () => {
    await emitSome(3);
    const all = await list();
    expect((await list('?type=transfer.started')).map((e) => e.type)).toEqual(['transfer.started']);
    expect((await list('?type=call.*')).map((e) => e.data.retell_call_id)).toEqual(['call_3', 'call_2', 'call_1']);
    expect((await list('?type=call.ended'))).toEqual([]);
    expect((await list('?limit=2')).map((e) => e.id)).toEqual(all.slice(0, 2).map((e) => e.id));
    const since = all[2]!.timestamp;
    expect((await list(`?since=${encodeURIComponent(since)}`)).map((e) => e.id)).toEqual(all.filter((e) => e.timestamp >= since).map((e) => e.id));
    expect(await list(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
  });

  it('when the token is missing or wrong, then 401 in JSON', async () => {
    for (const token of [null, 'wrong-token-0123456789abcdef']) {
      const res = await get('', token);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthorized', reason: expect.stringContaining('Bearer') });
      expect((await redeliver('evt_0123456789abcdefghijklmnop', token)).status).toBe(401);
    }
  });

  it.each([
    ['?limit=0', /limit/],
    ['?limit=101', /limit/],
    ['?limit=ten', /limit/],
    ['?limit=1&limit=2', /limit/],
    ['?since=yesterday', /since/],
    ['?since=1733130000', /since/],
    ['?type=call.nope', /type/],
    ['?type=sms', /type/],
    ['?type=%00', /type/],
  ])('when the query is %s, then 400 naming the parameter', async (query, reason) => {
    const res = await get(query);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; reason: string };
    expect(body.error).toBe('invalid');
    expect(body.reason).toMatch(reason);
  });

  it('when an event is redelivered, then 202, and the receiver gets it again with the same webhook-id and body; attempts count on', async () => {
    await emitSome(1);
    const [, event] = await list();
    expect(event!.type).toBe('call.started');
    const res = await redeliver(event!.id);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ id: event!.id, redelivery: 1, endpoints: ['events'] });
    await waitFor('the redelivery', () => receiver.withId(event!.id).length === 2);
    const [first, second] = receiver.withId(event!.id);
    expect(second!.headers['webhook-id']).toBe(event!.id);
    expect(second!.body).toBe(first!.body);
    expect(second!.verified).toBe(true);
    expect((await redeliver(event!.id)).status).toBe(202);
    await waitFor('the second redelivery', () => receiver.withId(event!.id).length === 3);
    await waitFor('three attempts recorded', async () => (await list('?type=call.started'))[0]!.delivery.attempts === 3);
    expect((await list('?type=call.started'))[0]!.delivery).toMatchObject({ status: 'delivered', attempts: 3 });
  });

  it('when a failed event is redelivered and the receiver now takes it, then it ends delivered', async () => {
    receiver.answers = [410];
    await bridge.events.emit('call.started', started(1));
    const failed = await waitFor('the event to fail', async () => (await list()).find((e) => e.delivery.status === 'failed'));
    expect((await redeliver(failed.id)).status).toBe(202);
    await waitFor('delivered', async () => (await list())[0]!.delivery.status === 'delivered');
    expect(receiver.withId(failed.id).map((r) => r.answer)).toEqual([410, 204]);
  });

  it('when the id is unknown, expired or malformed, then 404 in JSON', async () => {
    for (const id of ['evt_0123456789abcdefghijklmnop', 'evt_x', 'nope', '..%2F..%2Fcalls']) {
      const res = await redeliver(id);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'not_found', reason: expect.stringContaining('EVENTS_RETENTION_HOURS') });
    }
  });
});

describe('GET /events without API_TOKEN', () => {
  it('when API_TOKEN is unset, then /events is not there (404), like /calls', async () => {
    const bridge = await startBridge({});
    try {
      const res = await fetch(`${bridge.url}/events`);
      expect(res.status).toBe(404);
    } finally {
      await bridge.close();
    }
  });
});
