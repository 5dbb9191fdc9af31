/**
 * Event delivery against the real Redis, BullMQ and worker, to a local receiver: what is posted and how it
 * is signed, retries with the same webhook-id, the answers that end them, what EVENTS_TYPES lets through,
 * and receivers that misbehave (a huge or endless answer, a redirect, a certificate nobody trusts).
 */
import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import type { EventPayloads } from '../../src/features/events';
import { queuePrefix } from '../../src/jobs/queues';
import { verifyRetellSignature } from '../../src/retell/signature';
import { startBridge, type TestBridge } from '../support/bridge';
import { liveCall } from '../support/calls';
import { EventReceiver } from '../support/event-receiver';
import { API_TOKEN, OUTBOUND_ENV } from '../support/outbound';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { sleep, waitFor } from '../support/wait';

/** Short waits between attempts, so retries happen within a test; the schedule itself is tested on its own. */
const FAST_RETRIES = [200, 400, 600];

const started = (n = 1): EventPayloads['call.started'] => ({
  call_sid: `CA${String(n).padStart(32, '0')}`,
  retell_call_id: `call_${n}`,
  direction: 'inbound',
  from: '+14155550199',
  to: '+14155550100',
  agent_id: 'agent_default',
});

describe('event delivery', () => {
  let receiver: EventReceiver;
  let bridge: TestBridge;
  const start = async (env: Record<string, string> = {}, opts: { tls?: boolean } = {}) => {
    receiver = await EventReceiver.start(opts);
    bridge = await startBridge({ EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: receiver.secret, ...env }, { worker: true, eventRetryDelaysMs: FAST_RETRIES });
  };
  afterEach(async () => {
    await bridge?.close();
    await receiver?.stop();
  });

  /** Emits through the web's sink, as a flow does, and returns the event's id (from the store). */
  async function emitStarted(n = 1): Promise<string> {
    await bridge.events.emit('call.started', started(n), { key: `call-${n}` });
    const stored = await waitFor('the event to be stored', async () => (await bridge.eventStore.list({ type: 'call.started' })).find((e) => e.body.includes(`call_${n}"`)));
    return stored.id;
  }

  describe('when the receiver answers 2xx', () => {
    beforeEach(() => start());

    it('then it gets {type, timestamp, data} with webhook-id, webhook-timestamp and a signature the standardwebhooks verifier accepts, and the event is delivered', async () => {
      const id = await emitStarted();
      const [req] = await waitFor('the delivery', () => receiver.withId(id).length > 0 && receiver.withId(id));
      expect(req!.verified).toBe(true);
      expect(new Webhook(receiver.secret).verify(req!.body, req!.headers as Record<string, string>)).toEqual(req!.json);
      expect(Object.keys(req!.json)).toEqual(['type', 'timestamp', 'data']);
      expect(req!.json).toEqual({ type: 'call.started', timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), data: started() });
      expect(req!.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': expect.stringContaining('twilio-retell-bridge'), 'webhook-id': id });
      const ts = Number(req!.headers['webhook-timestamp']);
      expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(300);
      expect(req!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      // Signed with another secret, the verifier refuses it.
      expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(req!.body, req!.headers as Record<string, string>)).toThrow();

      const event = await waitFor('the delivery to be recorded', async () => {
        const e = await bridge.eventStore.get(id);
        return e?.deliveries.events?.status === 'delivered' && e;
      });
      expect(event.deliveries.events).toMatchObject({ status: 'delivered', attempts: 1, last: '204', deliveredAt: expect.any(String) });
      // The body posted is the one stored, byte for byte.
      expect(req!.body).toBe(event.body);
    });

    it('when the same fact is emitted three times (its key), then it is one event, posted once', async () => {
      for (let i = 0; i < 3; i++) await bridge.events.emit('call.started', started(7), { key: 'call-7' });
      const id = await emitStarted(7);
      await waitFor('the delivery', () => receiver.withId(id).length === 1);
      await sleep(800);
      expect(receiver.withId(id)).toHaveLength(1);
      expect(await bridge.eventStore.list()).toHaveLength(1);
    });
  });

  it('when the receiver answers 500 twice and then 200, then it gets the same webhook-id three times and the event ends delivered after 3 attempts', async () => {
    await start();
    receiver.answers = [500, 500, 200];
    const id = await emitStarted();
    await waitFor('three requests', () => receiver.withId(id).length === 3);
    const requests = receiver.withId(id);
    expect(requests.map((r) => r.answer)).toEqual([500, 500, 200]);
    expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([id]));
    // Each attempt signs its own time; each signature verifies.
    for (const r of requests) expect(r.verified).toBe(true);
    expect(requests.map((r) => r.body)).toEqual([requests[0]!.body, requests[0]!.body, requests[0]!.body]);
    const event = await waitFor('delivered', async () => {
      const e = await bridge.eventStore.get(id);
      return e?.deliveries.events?.status === 'delivered' && e;
    });
    expect(event.deliveries.events).toMatchObject({ status: 'delivered', attempts: 3, last: '200' });
    await sleep(1000);
    expect(receiver.withId(id)).toHaveLength(3);

    // What the operator sees: emitted on the web, attempts and the backlog on the worker.
    const web = await bridge.metrics.prometheus.metrics();
    expect(web).toContain('bridge_events_emitted_total{type="call.started"} 1');
    const worker = await bridge.worker!.metrics.prometheus.metrics();
    expect(worker).toContain('bridge_event_deliveries_total{endpoint="events",result="retried"} 2');
    expect(worker).toContain('bridge_event_deliveries_total{endpoint="events",result="delivered"} 1');
    expect(worker).toMatch(/bridge_events_backlog\{stage="stream"\} 0/);
    expect(worker).toMatch(/bridge_events_backlog\{stage="delayed"\} 0/);
  });

  it('when the receiver answers 410 Gone, then the event fails for good after one attempt', async () => {
    await start();
    receiver.answers = [410];
    const id = await emitStarted();
    const event = await waitFor('failed', async () => {
      const e = await bridge.eventStore.get(id);
      return e?.deliveries.events?.status === 'failed' && e;
    });
    expect(event.deliveries.events).toMatchObject({ status: 'failed', attempts: 1, last: '410' });
    await sleep(1000);
    expect(receiver.withId(id)).toHaveLength(1);
  });

  it('when EVENTS_TYPES is call.*,transfer.failed, then only those types are recorded and posted', async () => {
    await start({ EVENTS_TYPES: 'call.*, transfer.failed' });
    const transfer = { call_sid: started().call_sid, kind: 'cold' as const, destination: 'sales', to: '+14155550101' };
    await bridge.events.emit('transfer.started', transfer);
    await bridge.events.emit('transfer.failed', { ...transfer, reason: 'busy' });
    const id = await emitStarted();
    await waitFor('two deliveries', () => receiver.received.length === 2);
    await sleep(500);
    expect(receiver.received.map((r) => r.json.type).sort()).toEqual(['call.started', 'transfer.failed']);
    expect((await bridge.eventStore.list()).map((e) => e.type).sort()).toEqual(['call.started', 'transfer.failed']);
    expect(receiver.withId(id)).toHaveLength(1);
  });

  describe('when the receiver misbehaves, then the attempt fails, is retried, and nothing else is held up', () => {
    /** Waits until event `id` has failed `n` attempts, and returns the worker's reasons. */
    async function failedAttempts(id: string, n: number, timeoutMs = 10_000): Promise<string[]> {
      await waitFor(`${n} failed attempts`, async () => ((await bridge.eventStore.get(id))?.deliveries.events?.attempts ?? 0) >= n, timeoutMs);
      return bridge.workerLines
        .map((l) => JSON.parse(l) as { msg: string; eventId?: string; answer?: string })
        .filter((r) => r.msg === 'event not delivered: will retry' && r.eventId === id)
        .map((r) => r.answer!);
    }

    it('a 10 MB answer: too_large, the connection dropped; the next answer delivers it', async () => {
      await start();
      receiver.answers = ['big', 204];
      const id = await emitStarted();
      expect(await failedAttempts(id, 2)).toEqual(['too_large']);
      expect(await bridge.eventStore.get(id)).toMatchObject({ deliveries: { events: { status: 'delivered', attempts: 2 } } });
    });

    it('a redirect: not followed, a failure; the next answer delivers it', async () => {
      await start();
      receiver.answers = ['redirect', 204];
      const id = await emitStarted();
      expect(await failedAttempts(id, 2)).toEqual(['307']);
      expect(receiver.received.map((r) => r.path)).toEqual(['/hooks/events', '/hooks/events']);
      expect(await bridge.eventStore.get(id)).toMatchObject({ deliveries: { events: { status: 'delivered', attempts: 2 } } });
    });

    it('a certificate nobody trusts: no answer; retried', async () => {
      await start({}, { tls: true });
      const id = await emitStarted();
      const reasons = await failedAttempts(id, 2);
      expect(reasons.length).toBeGreaterThanOrEqual(2);
      for (const r of reasons) expect(r).toMatch(/^unreachable: .*(CERT|SIGNED|certificate)/i);
      expect(receiver.received).toHaveLength(0);
      expect(await bridge.eventStore.get(id)).toMatchObject({ deliveries: { events: { status: 'pending' } } });
    });

    it('an answer that never ends: cut at the 10 s deadline and retried, while a transfer on the call-actions queue is performed at once', async () => {
      await start({ TRANSFER_DESTINATIONS: JSON.stringify({ sales: '+14155550101' }) });
      receiver.answers = ['endless', 204];
      const id = await emitStarted();
      await waitFor('the endless answer to begin', () => receiver.withId(id).length === 1);

      const { callSid, callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
      expect(res.status).toBe(200);
      await bridge.twilio.waitForSuccessfulUpdates(1);
      // Settled once Twilio's answer is back: the worker was not held up by the receiver.
      await waitFor('the transfer to be settled', async () => (await bridge.calls.get(callSid))?.state === 'transferred');
      // The delivery is still inside its endless answer.
      expect((await bridge.eventStore.get(id))?.deliveries.events).toMatchObject({ status: 'pending', attempts: 0 });

      expect(await failedAttempts(id, 2, 15_000)).toEqual(['timeout']);
      expect(await bridge.eventStore.get(id)).toMatchObject({ deliveries: { events: { status: 'delivered', attempts: 2 } } });
    }, 30_000);
  });
});

describe('OUTBOUND_WEBHOOK_URL, delivered by the same engine', () => {
  let receiver: EventReceiver;
  let bridge: TestBridge;
  beforeEach(async () => {
    receiver = await EventReceiver.start({ path: '/hooks/calls' });
    bridge = await startBridge({ ...OUTBOUND_ENV, OUTBOUND_WEBHOOK_URL: receiver.url }, { worker: true, eventRetryDelaysMs: FAST_RETRIES });
  });
  afterEach(async () => {
    await bridge.close();
    await receiver.stop();
  });

  it('when an earlier version left a delivery on the outbound-events queue, then the worker posts its body as it was, signed X-Bridge-Signature', async () => {
    const body = JSON.stringify({ event: 'call_status', status: 'ringing', occurred_at: '2026-12-02T10:14:21.000Z', call: { id: 'out_0123456789abcdef0123456789abcdef', status: 'ringing' } });
    const old = new Queue('outbound-events', { connection: bridge.redis, prefix: queuePrefix(bridge.config.redis.prefix) });
    await old.add('event', { id: 'out_0123456789abcdef0123456789abcdef', status: 'ringing', body }, { jobId: 'event-out_0123456789abcdef0123456789abcdef-ringing', attempts: 8, backoff: { type: 'exponential', delay: 2000 } });
    const [req] = await waitFor('the old delivery', () => receiver.received.length > 0 && receiver.received);
    expect(req!.body).toBe(body);
    expect(verifyRetellSignature(Buffer.from(req!.body), API_TOKEN, req!.headers['x-bridge-signature'] as string)).toEqual({ ok: true });
    await waitFor('the old job to complete', async () => (await old.getJobState('event-out_0123456789abcdef0123456789abcdef-ringing')) === 'completed');
    await old.close();
  });

  it('when the receiver answers 400, then the outbound event is not retried (as documented), and other types never reach it', async () => {
    receiver.answers = [400];
    await bridge.events.emit('call.started', started());
    await bridge.events.emit(
      'outbound.status',
      { id: 'out_0123456789abcdef0123456789abcdef', status: 'ringing', call: { id: 'out_0123456789abcdef0123456789abcdef', status: 'ringing' } },
      { key: 'out_0123456789abcdef0123456789abcdef:ringing' },
    );
    const event = await waitFor('the refused delivery', async () => {
      const [e] = await bridge.eventStore.list({ type: 'outbound.status' });
      return e?.deliveries.outbound?.status === 'failed' && e;
    });
    expect(event.deliveries.outbound).toMatchObject({ attempts: 1, last: '400' });
    await sleep(800);
    expect(receiver.received).toHaveLength(1);
    expect(JSON.parse(receiver.received[0]!.body)).toEqual({
      event: 'call_status',
      status: 'ringing',
      occurred_at: JSON.parse(event.body).timestamp,
      call: { id: 'out_0123456789abcdef0123456789abcdef', status: 'ringing' },
    });
    // Without EVENTS_WEBHOOK_URL, only the outbound events are kept at all.
    expect((await bridge.eventStore.list()).map((e) => e.type)).toEqual(['outbound.status']);
  });
});
