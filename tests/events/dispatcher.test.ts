/**
 * The dispatcher and the store on the real Redis and BullMQ, without a worker: what each event becomes
 * (one record, one job per endpoint), at least once and never twice, within the retention; the retry
 * schedule; and what an event costs in Redis memory.
 */
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config';
import {
  createEventQueue,
  deliveryJobId,
  deliveryJobOptions,
  DISPATCH_GROUP,
  eventEndpoints,
  EventDispatcher,
  eventKeys,
  EventStore,
  RETRY_DELAYS_MS,
  retryDelay,
  StreamEventSink,
  type BridgeEvent,
  type EventPayloads,
  type EventQueue,
} from '../../src/features/events';
import { Metrics } from '../../src/observability/metrics';
import { testEnv } from '../support/bridge';
import { memoryLogger } from '../support/logs';
import { newWebhookSecret } from '../support/event-receiver';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis';

const HOUR = 3600_000;

const started = (n: number): EventPayloads['call.started'] => ({
  call_sid: `CA${String(n).padStart(32, '0')}`,
  retell_call_id: `call_${n}`,
  direction: 'inbound',
  from: '+14155550199',
  to: '+14155550100',
  agent_id: 'agent_default',
});

describe('the event dispatcher and store', () => {
  let prefix: string;
  let redis: Redis;
  let reader: Redis;
  let queue: EventQueue;
  let store: EventStore;
  let sink: StreamEventSink;
  const { logger, lines } = memoryLogger('debug');
  const endpoints = eventEndpoints(
    loadConfig(testEnv({ EVENTS_WEBHOOK_URL: 'http://127.0.0.1:9/events', EVENTS_WEBHOOK_SECRET: newWebhookSecret(), API_TOKEN: 'test-api-token-0123456789abcdef', OUTBOUND_WEBHOOK_URL: 'http://127.0.0.1:9/calls' })),
  );
  const dispatcher = (opts: Partial<ConstructorParameters<typeof EventDispatcher>[0]> = {}) =>
    new EventDispatcher({ redis: reader, prefix, store, queue, endpoints, logger, metrics: new Metrics({ defaultMetrics: false }), blockMs: 50, ...opts });
  const jobIds = async () => (await queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).map((j) => j.id).sort();
  const stream = () => eventKeys(prefix).stream;

  beforeEach(() => {
    prefix = uniquePrefix('events');
    redis = new Redis(TEST_REDIS_URL);
    reader = new Redis(TEST_REDIS_URL);
    queue = createEventQueue(redis, prefix);
    store = new EventStore(redis, prefix, 72 * HOUR);
    sink = new StreamEventSink({ redis, prefix, wanted: () => true, logger });
  });
  afterEach(async () => {
    await queue.close();
    redis.disconnect();
    reader.disconnect();
    await deletePrefix(prefix);
  });

  it('when events were emitted before any worker ran, then the first round records each once and queues one job per endpoint that wants it', async () => {
    await sink.emit('call.started', started(1));
    await sink.emit('outbound.status', { id: 'out_1', status: 'ringing', call: { id: 'out_1' } }, { key: 'out_1:ringing' });
    expect(await dispatcher().round()).toBe(2);

    const [outbound, call] = await store.list();
    expect(call).toMatchObject({ type: 'call.started', deliveries: { events: { status: 'pending', attempts: 0 } } });
    expect(Object.keys(call!.deliveries)).toEqual(['events']);
    expect(outbound).toMatchObject({ type: 'outbound.status', deliveries: { events: { status: 'pending' }, outbound: { status: 'pending' } } });
    expect(await jobIds()).toEqual([`${call!.id}-events`, `${outbound!.id}-events`, `${outbound!.id}-outbound`].sort());
    // Read, acknowledged and deleted: nothing is left in the stream.
    expect(await redis.xlen(stream())).toBe(0);
    expect(await redis.xpending(stream(), DISPATCH_GROUP)).toEqual([0, null, null, null]);
  });

  it('when the same fact is in the stream twice, or is emitted again after it was dispatched, then it stays one event with one job per endpoint', async () => {
    for (let i = 0; i < 2; i++) await sink.emit('call.started', started(1), { key: 'CA1' });
    await dispatcher().round();
    await sink.emit('call.started', { ...started(1), agent_id: 'agent_other' }, { key: 'CA1' });
    await dispatcher().round();
    const events = await store.list();
    expect(events).toHaveLength(1);
    // The first report is the one kept.
    expect(JSON.parse(events[0]!.body).data.agent_id).toBe('agent_default');
    expect(await jobIds()).toEqual([`${events[0]!.id}-events`]);
  });

  it('when a dispatcher read entries and died before acknowledging them, then another takes them over after the idle time and adds nothing twice', async () => {
    for (let n = 1; n <= 3; n++) await sink.emit('call.started', started(n));
    const first = dispatcher({ consumer: 'killed' });
    await first.round();
    const before = await jobIds();
    expect(before).toHaveLength(3);
    // A consumer that read the next two entries, recorded and queued the first, and was killed.
    for (let n = 4; n <= 5; n++) await sink.emit('call.started', started(n));
    const reply = (await reader.xreadgroup('GROUP', DISPATCH_GROUP, 'killed', 'COUNT', 10, 'STREAMS', stream(), '>')) as Array<[string, Array<[string, string[]]>]>;
    const halfDone = JSON.parse(reply[0]![1][0]![1][1]!) as BridgeEvent;
    await store.record(halfDone, JSON.stringify({ type: halfDone.type, timestamp: halfDone.timestamp, data: halfDone.data }), ['events']);
    await queue.add('deliver', { eventId: halfDone.id, endpoint: 'events' }, { jobId: deliveryJobId(halfDone.id, 'events') });
    expect((await redis.xpending(stream(), DISPATCH_GROUP))[0]).toBe(2);

    const survivor = dispatcher({ consumer: 'survivor', claimIdleMs: 0 });
    expect(await survivor.round()).toBe(2);
    expect(await jobIds()).toHaveLength(5);
    expect(await jobIds()).toEqual(expect.arrayContaining([...before, deliveryJobId(halfDone.id, 'events')]));
    expect(await store.list()).toHaveLength(5);
    expect(await redis.xpending(stream(), DISPATCH_GROUP)).toEqual([0, null, null, null]);
    expect(lines.some((l) => l.includes('took over events a stopped worker had read'))).toBe(true);
  });

  it('when workers restarted under new names, then a name idle with nothing pending leaves the group, and one with entries pending stays', async () => {
    await sink.emit('call.started', started(1));
    await dispatcher({ consumer: 'first' }).round();
    expect(((await redis.xinfo('CONSUMERS', stream(), DISPATCH_GROUP)) as string[][]).map((c) => c[1])).toContain('first');
    await sink.emit('call.started', started(2));
    await reader.xreadgroup('GROUP', DISPATCH_GROUP, 'holding', 'COUNT', 10, 'STREAMS', stream(), '>');
    await dispatcher({ consumer: 'next', forgetConsumersAfterMs: 0, claimIdleMs: 60_000 }).round();
    const names = ((await redis.xinfo('CONSUMERS', stream(), DISPATCH_GROUP)) as string[][]).map((c) => c[1]).sort();
    expect(names).toContain('holding');
    expect(names).not.toContain('first');
  });

  it('when an entry is not an event, then it is dropped (and acknowledged), and the others go on', async () => {
    await redis.xadd(stream(), '*', 'e', '{"id":"evt_x","type":"no.such","timestamp":"now","data":{}}');
    await redis.xadd(stream(), '*', 'x', 'y');
    await sink.emit('call.started', started(1));
    expect(await dispatcher().round()).toBe(3);
    expect((await store.list()).map((e) => e.type)).toEqual(['call.started']);
    expect(await redis.xlen(stream())).toBe(0);
    expect(lines.filter((l) => l.includes('an entry that is not an event'))).toHaveLength(2);
  });

  it('when a delivery is settled twice as delivered, then it is marked delivered once; a later failure does not undo it', async () => {
    await sink.emit('call.started', started(1));
    await dispatcher().round();
    const [event] = await store.list();
    expect(await store.settle(event!.id, 'events', 'retry', '500')).toBe('recorded');
    expect(await store.settle(event!.id, 'events', 'delivered', '200')).toBe('marked');
    expect(await store.settle(event!.id, 'events', 'delivered', '200')).toBe('already');
    expect(await store.settle(event!.id, 'events', 'failed', '410')).toBe('already');
    expect((await store.get(event!.id))!.deliveries.events).toMatchObject({ status: 'delivered', attempts: 4, last: '410' });
    expect(await store.settle('evt_0000000000000000000000000', 'events', 'delivered', '200')).toBe('expired');
  });

  it('when events are older than the retention, then they leave the listing, and each record expires within the retention', async () => {
    const short = new EventStore(redis, prefix, HOUR);
    await sink.emit('call.started', started(1));
    await dispatcher({ store: short }).round();
    const [event] = await short.list();
    const ttl = await redis.pttl(short.keys.event(event!.id));
    expect(ttl).toBeGreaterThan(HOUR - 60_000);
    expect(ttl).toBeLessThanOrEqual(HOUR);
    expect(await redis.pttl(short.keys.byCall(started(1).call_sid))).toBeLessThanOrEqual(HOUR);
    // An hour and a minute later (as the index sees it): trimmed, and no longer listed.
    await short.trim(['call.started'], Date.now() + HOUR + 60_000);
    expect(await short.list()).toEqual([]);
    expect(await redis.zcard(short.keys.byType('call.started'))).toBe(0);
  });

  it('when an event is stored, then it costs its body plus a few hundred bytes of Redis memory', async () => {
    await sink.emit('call.started', started(1));
    await dispatcher().round();
    const [event] = await store.list();
    const bytes = async (key: string) => Number(await redis.memory('USAGE', key));
    const body = Buffer.byteLength(event!.body);
    const record = (await bytes(store.keys.event(event!.id))) + (await bytes(store.keys.body(event!.id)));
    // The body's key and the deliveries' compact hash: the body and a few hundred bytes.
    expect(record - body).toBeLessThan(600);
    expect(body).toBeLessThan(400);
  });

  it('the retry schedule: about 5 s, then 30 s, both within a minute; then growing waits for about a day, with jitter; at least 5 attempts', () => {
    expect(retryDelay(1, RETRY_DELAYS_MS, () => 0.5)).toBe(5000);
    expect(retryDelay(2, RETRY_DELAYS_MS, () => 0.5)).toBe(30_000);
    expect(retryDelay(1, RETRY_DELAYS_MS, () => 1) + retryDelay(2, RETRY_DELAYS_MS, () => 1)).toBeLessThan(60_000);
    expect(retryDelay(1, RETRY_DELAYS_MS, () => 0)).toBe(4000);
    const waits = RETRY_DELAYS_MS.map((_, i) => retryDelay(i + 1, RETRY_DELAYS_MS, () => 0.5));
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1]!);
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(20 * HOUR);
    expect(total).toBeLessThan(28 * HOUR);
    expect(deliveryJobOptions().attempts).toBe(RETRY_DELAYS_MS.length + 1);
    expect(deliveryJobOptions().attempts).toBeGreaterThanOrEqual(5);
    // Past the schedule's end, the last wait repeats.
    expect(retryDelay(50, RETRY_DELAYS_MS, () => 0.5)).toBe(RETRY_DELAYS_MS.at(-1));
  });
});
