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

  function expectDeliveredOnce(ids: string[]): void {
    // Every event reached the receiver, signed; any it got twice came with the same id and body.
    const delivered = new Set(receiver!.received.filter((r) => r.answer === 204).map((r) => r.id));
    expect(delivered.size).toBe(EVENTS);
    expect([...delivered].sort()).toEqual([...ids].sort());
    expect(receiver!.received.every((r) => r.verified)).toBe(true);
    for (const id of ids) expect(new Set(receiver!.withId(id).map((r) => r.body)).size).toBe(1);
    // Marked delivered once each, across both worker processes.
    const m = marks();
    expect(m.size).toBe(EVENTS);
    expect([...m.values()].every((n) => n === 1)).toBe(true);
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

    await startWorker();
    await waitFor('every event delivered', async () => (await statuses()).count.delivered === EVENTS, 60_000);
    expectDeliveredOnce(killedAt.ids);
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
    expectDeliveredOnce((await statuses()).ids);
    expect(workers[1]!.messages('warn')).toContain('event dispatcher: took over events a stopped worker had read');
  }, 150_000);
});
