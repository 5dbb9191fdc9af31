/**
 * Fault case: event deliveries through real worker processes on a redis-server of the file's own. The
 * receiver is down while 1,000 events are emitted, then comes up; the worker is SIGKILLed while it is
 * delivering them (and, in the second case, while it is still dispatching them from the stream). Every
 * event ends delivered, none is marked delivered twice, and a receiver that sees an event twice sees it
 * with the same webhook-id and body.
 */
import { startBridge, type TestBridge } from '../support/bridge';
import { EventReceiver, newWebhookSecret } from '../support/event-receiver';
import { waitReady } from '../support/redis';
import { freePort, waitFor } from './support/ports';
import { RedisServer } from './support/redis-server';
import { WorkerProcess } from './support/worker-process';

const EVENTS = 1000;

describe('event delivery when the receiver is down and the worker is killed', () => {
  let redis: RedisServer;
  let bridge: TestBridge;
  let receiver: EventReceiver | undefined;
  let port: number;
  const secret = newWebhookSecret();
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  beforeEach(async () => {
    port = await freePort();
    bridge = await startBridge({ EVENTS_WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/events`, EVENTS_WEBHOOK_SECRET: secret }, { redisUrl: redis.url });
    await waitReady(bridge.redis);
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.dispose();
    await receiver?.stop();
    receiver = undefined;
    await bridge.close();
  });
  afterAll(async () => {
    await redis.dispose();
  });

  async function startWorker(): Promise<WorkerProcess> {
    const w = await WorkerProcess.forBridge(bridge, { env: { EVENTS_WEBHOOK_URL: bridge.config.events.webhookUrl!, EVENTS_WEBHOOK_SECRET: secret, LOG_LEVEL: 'debug' } });
    workers.push(w);
    return w;
  }

  async function emitAll(): Promise<void> {
    for (let i = 0; i < EVENTS; i++) {
      const sid = `CA${i.toString(16).padStart(32, '0')}`;
      await bridge.events.emit('call.ended', { call_sid: sid, direction: 'inbound', from: '+14155550199', to: '+14155550100', twilio_status: 'completed', duration_s: i }, { key: sid });
    }
  }

  /** Event ids in the store, and how many of them each status has. */
  async function statuses(): Promise<{ ids: string[]; count: Record<string, number>; attempted: number }> {
    const ids = await bridge.redis.zrange(bridge.eventStore.keys.byType('call.ended'), '0', '-1');
    const events = await Promise.all(ids.map((id) => bridge.eventStore.get(id)));
    const count: Record<string, number> = {};
    let attempted = 0;
    for (const e of events) {
      const d = e?.deliveries.events;
      count[d?.status ?? 'missing'] = (count[d?.status ?? 'missing'] ?? 0) + 1;
      if ((d?.attempts ?? 0) > 0) attempted += 1;
    }
    return { ids, count, attempted };
  }

  /** The events each worker process logged as marked delivered, by id. */
  function marks(): Map<string, number> {
    const byId = new Map<string, number>();
    for (const w of workers) {
      for (const r of w.records()) if (r.msg === 'event delivered') byId.set(String(r.eventId), (byId.get(String(r.eventId)) ?? 0) + 1);
    }
    return byId;
  }

  /** When each delivered event was marked delivered, by id. */
  async function deliveredAt(ids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of ids) {
      const at = (await bridge.eventStore.get(id))?.deliveries.events?.deliveredAt;
      if (at) out.set(id, at);
    }
    return out;
  }

  async function expectDeliveredOnce(ids: string[], before: Map<string, string> = new Map()): Promise<void> {
    // Every event reached the receiver, signed; any it got twice came with the same id and body.
    const delivered = new Set(receiver!.received.filter((r) => r.answer === 204).map((r) => r.id));
    expect(delivered.size).toBe(EVENTS);
    expect([...delivered].sort()).toEqual([...ids].sort());
    expect(receiver!.received.every((r) => r.verified)).toBe(true);
    for (const id of ids) expect(new Set(receiver!.withId(id).map((r) => r.body)).size).toBe(1);
    // Marked delivered once each: no worker logged a second mark, and what was marked before the kill
    // kept its time (a worker killed between Redis's mark and its log line leaves no line at all).
    expect([...marks().values()].filter((n) => n > 1)).toEqual([]);
    const after = await deliveredAt(ids);
    expect(after.size).toBe(EVENTS);
    for (const [id, at] of before) expect(after.get(id)).toBe(at);
  }

  it('when 1,000 events are emitted while the receiver is down, it comes up, and the worker is SIGKILLed while delivering, then all are delivered and none is marked twice', async () => {
    const first = await startWorker();
    await emitAll();
    // Every first attempt finds nothing listening and is scheduled again (about 5 s later).
    await waitFor('every first attempt to fail', async () => (await statuses()).attempted === EVENTS, 30_000);
    expect((await statuses()).count).toEqual({ pending: EVENTS });

    receiver = await EventReceiver.start({ port, secret });
    receiver.delayMs = 30;
    await waitFor('some retries to be delivered', async () => ((await statuses()).count.delivered ?? 0) >= 150, 30_000);
    await first.kill();
    const killedAt = await statuses();
    expect(killedAt.count.delivered).toBeLessThan(EVENTS);
    const markedBefore = await deliveredAt(killedAt.ids);
    expect(markedBefore.size).toBe(killedAt.count.delivered);

    await startWorker();
    await waitFor('every event delivered', async () => (await statuses()).count.delivered === EVENTS, 60_000);
    await expectDeliveredOnce(killedAt.ids, markedBefore);
  }, 150_000);

  it('when the worker is SIGKILLed with events it read from the stream and never dispatched, then the next one takes them over: all delivered, none twice', async () => {
    receiver = await EventReceiver.start({ port, secret });
    const first = await startWorker();
    const stream = `${bridge.config.redis.prefix}:events:stream`;
    await waitFor('the dispatcher to be reading', async () => (await bridge.redis.exists(stream)) === 1, 20_000);
    // Frozen inside its blocking read: Redis hands it the first batch (pending for it from then on),
    // which it never gets to process.
    process.kill(first.pid!, 'SIGSTOP');
    await emitAll();
    const pending = await waitFor('a batch read by the frozen worker', async () => ((await bridge.redis.xpending(stream, 'dispatch')) as [number])[0], 5000);
    expect(pending).toBeGreaterThan(0);
    await first.kill();
    expect((await statuses()).ids).toHaveLength(0);

    await startWorker();
    // The killed worker's unacknowledged entries are taken over once idle for 30 s.
    await waitFor('every event delivered', async () => (await statuses()).count.delivered === EVENTS, 90_000);
    expect(await bridge.redis.xlen(stream)).toBe(0);
    expect(((await bridge.redis.xpending(stream, 'dispatch')) as [number])[0]).toBe(0);
    await expectDeliveredOnce((await statuses()).ids);
    expect(workers[1]!.messages('warn')).toContain('event dispatcher: took over events a stopped worker had read');
  }, 150_000);

  it('when the worker gets SIGTERM with deliveries in flight at a slow receiver, then it lets them finish and exits 0; events emitted meanwhile wait in the stream for the next worker', async () => {
    receiver = await EventReceiver.start({ port, secret });
    receiver.delayMs = 2000;
    const first = await startWorker();
    const emit = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) {
        const sid = `CA${i.toString(16).padStart(32, '0')}`;
        await bridge.events.emit('call.ended', { call_sid: sid, direction: 'inbound', from: '+14155550199', to: '+14155550100', twilio_status: 'completed' }, { key: sid });
      }
    };
    await emit(0, 20);
    await waitFor('every delivery to be at the receiver', () => receiver!.received.length === 20, 20_000);
    first.terminate();
    await emit(20, 10);
    const exit = await first.exited(15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.records().find((r) => r.msg === 'worker stopped')).toMatchObject({ outcome: 'drained' });
    // What it had dispatched (the 20, and any of the later ones its last round took) it delivered; the
    // rest are still in the stream.
    const stopped = await statuses();
    expect(Object.keys(stopped.count)).toEqual(['delivered']);
    expect(stopped.count.delivered).toBeGreaterThanOrEqual(20);
    expect(stopped.count.delivered! + (await bridge.redis.xlen(`${bridge.config.redis.prefix}:events:stream`))).toBe(30);

    receiver.delayMs = 0;
    await startWorker();
    await waitFor('the rest delivered', async () => (await statuses()).count.delivered === 30, 20_000);
    expect(receiver.received).toHaveLength(30);
  }, 90_000);
});
