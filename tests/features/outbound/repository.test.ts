import { Redis } from 'ioredis';
import type { OutboundRecord } from '../../../src/features/outbound/record';
import { PACE_PERIOD_MS, SEND_WINDOW_MS } from '../../../src/features/outbound/placer';
import { OutboundStore, type SendAdmission } from '../../../src/features/outbound/repository';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis';

/** The outbound record's scripts against the real Redis: each decision is one atomic step on one key. */
describe('OutboundStore', () => {
  let redis: Redis;
  let prefix: string;
  let store: OutboundStore;
  let n = 0;

  beforeEach(() => {
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    prefix = uniquePrefix('outbound-store');
    store = new OutboundStore(redis, prefix);
  });
  afterEach(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });

  const record = (over: Partial<OutboundRecord> = {}): OutboundRecord => {
    n += 1;
    const now = new Date().toISOString();
    return {
      id: `out_${n.toString(16).padStart(32, '0')}`,
      status: 'queued',
      createdAt: now,
      updatedAt: now,
      to: '+14155550199',
      from: '+14155550100',
      agentId: 'agent_a',
      dynamicVariables: '{}',
      metadata: '{}',
      voicemail: 'continue',
      ringTimeoutS: '30',
      requestHash: 'h1',
      ...over,
    };
  };

  it('when a record is created twice, then the second says whether it was the same request, and nothing is overwritten', async () => {
    const r = record();
    expect(await store.create(r)).toBe('created');
    expect(await store.create({ ...r, to: '+19995550100' })).toBe('same');
    expect(await store.create({ ...r, requestHash: 'h2' })).toBe('different');
    expect((await store.get(r.id))?.to).toBe('+14155550199');
    expect(await redis.pttl(store.keys.record(r.id))).toBeGreaterThan(23 * 3600 * 1000);
  });

  it('when placement begins, then the first attempt is told so and every later one is told to look first, with when it began', async () => {
    const r = record();
    await store.create(r);
    expect(await store.beginPlacement(r.id)).toEqual({ kind: 'first' });
    const again = await store.beginPlacement(r.id);
    expect(again.kind).toBe('again');
    expect((await store.get(r.id))).toMatchObject({ status: 'dialing', placements: '2', placingSince: (again as { since: string }).since });
    expect(await store.link(r.id, `CA${'1'.repeat(32)}`)).toMatchObject({ kind: 'linked', cancelRequested: false });
    expect(await store.beginPlacement(r.id)).toEqual({ kind: 'placed', callSid: `CA${'1'.repeat(32)}` });
    expect(await store.beginPlacement('out_missing')).toEqual({ kind: 'unknown' });
  });

  it('when a CallSid is linked, then it belongs to one record only, and a record keeps its first CallSid', async () => {
    const a = record();
    const b = record();
    await store.create(a);
    await store.create(b);
    const sid = `CA${'2'.repeat(32)}`;
    expect(await store.link(a.id, sid)).toMatchObject({ kind: 'linked' });
    expect(await store.link(a.id, sid)).toMatchObject({ kind: 'linked' });
    expect(await store.link(b.id, sid)).toEqual({ kind: 'other', callSid: sid });
    expect(await store.link(a.id, `CA${'3'.repeat(32)}`)).toEqual({ kind: 'other', callSid: sid });
    expect(await store.idForCallSid(sid)).toBe(a.id);
  });

  it('when statuses arrive in any order, then the record only moves forward, and the outcome is the first one given', async () => {
    const r = record();
    await store.create(r);
    expect(await store.advance(r.id, 'ringing', { ringingAt: 't1' })).toBe('moved');
    expect(await store.advance(r.id, 'dialing')).toBe('kept');
    expect(await store.advance(r.id, 'ended', { outcome: 'dial_busy', endedAt: 't2' })).toBe('moved');
    expect(await store.advance(r.id, 'in-progress', { answeredAt: 't3' })).toBe('kept');
    expect(await store.advance(r.id, 'ended', { outcome: 'completed', endedAt: 't4' })).toBe('kept');
    expect(await store.get(r.id)).toMatchObject({ status: 'ended', outcome: 'dial_busy', ringingAt: 't1', endedAt: 't2' });
    expect(await store.advance('out_missing', 'ringing')).toBe('unknown');
  });

  it('when a call is canceled, then a queued one ends at once, a dialing or ringing one is marked, and a later one is too late', async () => {
    const queued = record();
    const dialing = record();
    const live = record();
    for (const r of [queued, dialing, live]) await store.create(r);
    await store.beginPlacement(dialing.id);
    await store.advance(live.id, 'in-progress');

    expect(await store.cancel(queued.id)).toEqual({ kind: 'canceled' });
    expect(await store.get(queued.id)).toMatchObject({ status: 'ended', outcome: 'canceled' });
    expect(await store.cancel(dialing.id)).toEqual({ kind: 'requested', callSid: undefined });
    expect(await store.link(dialing.id, `CA${'4'.repeat(32)}`)).toMatchObject({ kind: 'linked', cancelRequested: true });
    expect(await store.cancel(live.id)).toEqual({ kind: 'too_late', status: 'in-progress' });
    expect(await store.cancel('out_missing')).toEqual({ kind: 'unknown' });
  });

  it('when workers reserve Retell slots at the same moment, then no more are handed out than the limit allows, counting those already ringing', async () => {
    const until = Date.now() + 60_000;
    const ids = Array.from({ length: 10 }, (_, i) => `out_${i.toString(16).padStart(32, '0')}`);
    // Retell has 2 calls, outbound may have 5 in all: 3 slots.
    const granted = await Promise.all(ids.map((id) => store.reserveSlot(id, until, 2, 5)));
    expect(granted.filter(Boolean)).toHaveLength(3);
    // The same call asking again keeps its slot; a released slot goes to the next.
    const holder = ids[granted.indexOf(true)]!;
    expect(await store.reserveSlot(holder, until, 2, 5)).toBe(true);
    await store.releaseSlot(holder);
    expect(await store.reserveSlot(ids[granted.indexOf(false)]!, until, 2, 5)).toBe(true);
    // Slots whose time has passed no longer count.
    await redis.zadd(store.keys.ringing, Date.now() - 1, 'out_stale');
    expect(await redis.zcard(store.keys.ringing)).toBe(4);
    expect(await store.reserveSlot('out_new', until, 0, 4)).toBe(true);
    expect(await redis.zscore(store.keys.ringing, 'out_stale')).toBeNull();
  });

  it('when several workers ask for placement turns at once, then the turns are spaced the interval apart on one clock', async () => {
    const asked = Date.now();
    const waits = (await Promise.all(Array.from({ length: 5 }, () => store.placementTurn(200)))).sort((a, b) => a - b);
    // Each script reads Redis's clock itself, so a later one sees the time the earlier ones took pass (at
    // most the whole exchange) and waits that much less for the same turn.
    const took = Date.now() - asked + 1;
    for (let i = 0; i < waits.length; i++) {
      expect(waits[i]).toBeGreaterThanOrEqual(i * 200 - took);
      expect(waits[i]).toBeLessThanOrEqual(i * 200);
    }
  });

  /** The most of `times` (ms) within any span of `spanMs`, counted in whole µs (the scripts' resolution). */
  const mostWithin = (times: number[], spanMs: number): number => {
    const us = times.map((t) => Math.round(t * 1000)).sort((a, b) => a - b);
    let most = 0;
    for (let end = 0, start = 0; end < us.length; end++) {
      while (us[end]! - us[start]! >= spanMs * 1000) start += 1;
      most = Math.max(most, end - start + 1);
    }
    return most;
  };

  it('when turns are handed out at a fraction of a ms apart, then they keep that spacing rather than rounding it away', async () => {
    const interval = PACE_PERIOD_MS / 30;
    const asked = Date.now();
    const waits = await Promise.all(Array.from({ length: 30 }, () => store.placementTurn(interval)));
    const took = Date.now() - asked + 1;
    // Each wait is rounded up to a whole ms, and later scripts see the exchange's time pass (as above).
    waits.sort((a, b) => a - b).forEach((wait, i) => {
      expect(wait).toBeGreaterThanOrEqual(Math.ceil(i * interval) - took);
      expect(wait).toBeLessThanOrEqual(Math.ceil(i * interval));
    });
    // The next free turn is the 31st: 30 intervals from the first, on Redis's clock.
    const ahead = await store.turnsBookedAhead();
    expect(ahead).toBeGreaterThanOrEqual(30 * interval - (Date.now() - asked + 1));
    expect(ahead).toBeLessThanOrEqual(Math.ceil(30 * interval));
  });

  it('when many workers ask the guard at once, some of them late for their turns, then no more than TWILIO_CPS are admitted within any window, by the times the guard recorded', async () => {
    const cps = 8;
    // Four workers' connections; 40 requests, each taking its turn, a third of them late (a busy event
    // loop, a slow round trip) by up to 700 ms, then asking the guard until it admits them. A fifth skip
    // their turns and ask at once: with the first turns, more than TWILIO_CPS ask at the start.
    const workers = Array.from({ length: 4 }, () => new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 }));
    const stores = workers.map((r) => new OutboundStore(r, prefix));
    const admitted: number[] = [];
    const refusals: Array<Extract<SendAdmission, { admitted: false }>> = [];
    try {
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const s = stores[i % stores.length]!;
          if (i % 5 !== 4) await sleep(await s.placementTurn(PACE_PERIOD_MS / cps));
          if (i % 3 === 0) await sleep((i * 37) % 700);
          for (;;) {
            const a = await s.admitSend(cps, SEND_WINDOW_MS);
            if (a.admitted) return void admitted.push(a.at);
            refusals.push(a);
            await sleep(Math.ceil(a.waitMs));
          }
        }),
      );
    } finally {
      for (const r of workers) r.disconnect();
    }
    expect(admitted).toHaveLength(40);
    expect(mostWithin(admitted, SEND_WINDOW_MS)).toBeLessThanOrEqual(cps);
    expect(mostWithin(admitted, 1000)).toBeLessThanOrEqual(cps);
    // The guard did hold some back.
    expect(refusals.length).toBeGreaterThan(0);
    // The set keeps only the requests of the last window (at most TWILIO_CPS) and lapses on its own.
    const kept = await redis.zcard(store.keys.sends);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(cps);
    const ttl = await redis.pttl(store.keys.sends);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SEND_WINDOW_MS + 1000);
  }, 30_000);

  it('when a steady stream asks the guard, then it admits TWILIO_CPS per window: a request is held only until the oldest of the latest TWILIO_CPS leaves the window', async () => {
    const cps = 20;
    const admitted: number[] = [];
    const refusals: Array<Extract<SendAdmission, { admitted: false }>> = [];
    // Ten callers always asking (more requests than the rate allows), each asking again when told.
    let left = 3 * cps;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (left > 0) {
          const a = await store.admitSend(cps, SEND_WINDOW_MS);
          if (a.admitted) {
            left -= 1;
            admitted.push(a.at);
          } else {
            refusals.push(a);
            await sleep(Math.ceil(a.waitMs));
          }
        }
      }),
    );
    expect(mostWithin(admitted, SEND_WINDOW_MS)).toBe(cps);
    // The first TWILIO_CPS were admitted at once, without being held.
    const sorted = [...admitted].sort((a, b) => a - b);
    expect(refusals.every((r) => r.from > sorted[cps - 1]!)).toBe(true);
    // Each refusal names, as the moment it may be admitted, one admission's time plus the window exactly:
    // the guard never holds a request past the moment it could let it through.
    const us = new Set(sorted.map((t) => Math.round((t + SEND_WINDOW_MS) * 1000)));
    expect(refusals.length).toBeGreaterThan(0);
    for (const r of refusals) expect(us.has(Math.round(r.from * 1000))).toBe(true);
    // And the window is the turns' period or less: requests on their turns are not held.
    expect(SEND_WINDOW_MS).toBeLessThanOrEqual(PACE_PERIOD_MS);
  }, 30_000);

  it('when an admission is taken back and asked for again, then the request counts once, at its new time', async () => {
    const first = await store.admitSend(2, 60_000);
    const second = await store.admitSend(2, 60_000);
    if (!first.admitted || !second.admitted) throw new Error('both should have been admitted');
    expect((await store.admitSend(2, 60_000)).admitted).toBe(false);
    // The first request's answer came late: admitted again, it takes its own place back, not a third.
    const again = await store.admitSend(2, 60_000, first.token);
    if (!again.admitted) throw new Error('the request should have been admitted again');
    const [a, aAt, b, bAt, ...more] = await redis.zrange(store.keys.sends, '0', '-1', 'WITHSCORES');
    expect([a, b, more]).toEqual([second.token, again.token, []]);
    expect(Number(aAt)).toBeCloseTo(second.at, 3);
    expect(Number(bAt)).toBeCloseTo(again.at, 3);
  });

  it('when a request is written after its admission, then the guard counts it from when it was written', async () => {
    const window = 400;
    const early = await store.admitSend(2, window);
    if (!early.admitted) throw new Error('should have been admitted');
    // It waited 150 ms for a connection before it went.
    await sleep(150);
    await store.sent(early.token, window);
    const wrote = Number((await redis.zscore(store.keys.sends, early.token))!);
    expect(wrote - early.at).toBeGreaterThanOrEqual(150 - 5);
    const next = await store.admitSend(2, window);
    if (!next.admitted) throw new Error('should have been admitted');
    // Past the admission's window, still within the write's: the third waits for the write, not the admission.
    await sleep(early.at + window - next.at + 20);
    const third = await store.admitSend(2, window);
    expect(third).toMatchObject({ admitted: false });
    expect((third as { from: number }).from).toBeCloseTo(wrote + window, 3);
    // Telling it again with an earlier time never moves it back.
    await store.sent(next.token, window);
    const nextWrote = Number((await redis.zscore(store.keys.sends, next.token))!);
    expect(nextWrote).toBeGreaterThanOrEqual(next.at);
  });

  it('when a request is written after its admission left the window, then it counts again, from when it was written', async () => {
    const window = 200;
    const late = await store.admitSend(1, window);
    if (!late.admitted) throw new Error('should have been admitted');
    await sleep(window + 50);
    await store.sent(late.token, window);
    const refused = await store.admitSend(1, window);
    expect(refused).toMatchObject({ admitted: false });
    expect((refused as { waitMs: number }).waitMs).toBeGreaterThan(window / 2);
  });

  it('when TWILIO_CPS was lowered, then the guard holds requests until fewer than the new setting were sent within the window', async () => {
    const at: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await store.admitSend(5, 60_000);
      if (!a.admitted) throw new Error('should have been admitted');
      at.push(a.at);
    }
    expect((await store.admitSend(5, 60_000)).admitted).toBe(false);
    // At 2, the fourth of the five must leave the window before another goes: then one is left in it.
    const lowered = await store.admitSend(2, 60_000);
    expect(lowered).toMatchObject({ admitted: false });
    expect((lowered as { from: number }).from).toBeCloseTo(at[3]! + 60_000, 3);
    expect(await redis.zcard(store.keys.sends)).toBe(5);
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
