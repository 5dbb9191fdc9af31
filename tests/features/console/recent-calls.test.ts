/**
 * The recent-calls index and the list over it, on real Redis: newest first, paged without losing or
 * repeating calls created in the same millisecond, bounded by count and age, filters looking through a
 * bounded number of calls.
 */
import Redis from 'ioredis';
import { CallRepository, RECENT_CALLS_MAX, RECENT_TRIM_EVERY, TWILIO_REQUESTS_MAX } from '../../../src/calls/repository';
import { RECORD_TTL_MS, type CallRecord } from '../../../src/calls/record';
import { ConsoleService, type CallListQuery } from '../../../src/features/console';
import type { CallReports } from '../../../src/features/console';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis';

const sid = (n: number) => `CA${n.toString(16).padStart(32, '0')}`;

function record(n: number, at: number, extra: Partial<CallRecord> = {}): CallRecord {
  const iso = new Date(at).toISOString();
  return { callSid: sid(n), accountSid: `AC${'0'.repeat(32)}`, from: `+1415555${String(n).padStart(4, '0')}`, to: '+14155550100', direction: 'inbound', state: 'registered', createdAt: iso, updatedAt: iso, ...extra };
}

describe('the recent-calls index', () => {
  let redis: Redis;
  let prefix: string;
  let calls: CallRepository;
  let service: ConsoleService;
  beforeEach(() => {
    redis = new Redis(TEST_REDIS_URL);
    prefix = uniquePrefix('console');
    calls = new CallRepository(redis, prefix);
    service = new ConsoleService({ calls, reports: {} as CallReports, redelivery: { store: {} as never, queue: undefined, endpoints: [], logger: {} as never } });
  });
  afterEach(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });

  async function allPages(q: CallListQuery): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const page = await service.listCalls({ ...q, cursor });
      seen.push(...page.calls.map((c) => c.callSid));
      if (!page.next) return seen;
      cursor = page.next;
    }
    throw new Error('too many pages');
  }

  it('when the voice webhook claims a call, then the call is indexed in the same round trip, once however often the webhook repeats', async () => {
    const r = record(1, Date.now());
    await calls.claimAnswer(r.callSid, 'owner-a', 5000, r);
    await calls.claimAnswer(r.callSid, 'owner-b', 5000, { ...r, createdAt: new Date(Date.now() + 5000).toISOString() });
    expect(await calls.recentCalls({ limit: 10 })).toEqual([{ callSid: r.callSid, at: Date.parse(r.createdAt) }]);
  });

  it('when Redis is a Cluster, then the claim goes alone (one key) and the index is written beside it, in the same tick', async () => {
    const sent: string[] = [];
    const cluster = {
      isCluster: true,
      defineCommand: () => undefined,
      bridgeClaim: async () => (sent.push('bridgeClaim'), ['claimed']),
      bridgeClaimIndexed: async () => (sent.push('bridgeClaimIndexed'), ['claimed']),
      zadd: async () => (sent.push('zadd'), 1),
      bridgeTrimRecent: async () => (sent.push('bridgeTrimRecent'), 1),
    };
    const repo = new CallRepository(cluster as never, prefix);
    const r = record(1, Date.now());
    expect(await repo.claimAnswer(r.callSid, 'owner', 5000, r)).toEqual({ kind: 'claimed' });
    expect(sent.sort()).toEqual(['bridgeClaim', 'bridgeTrimRecent', 'zadd']);
  });

  it('when calls share a millisecond across page boundaries, then paging lists each exactly once, newest first', async () => {
    const base = Date.now() - 60_000;
    // 23 calls over 5 distinct times: ties everywhere.
    for (let n = 1; n <= 23; n++) await calls.adopt(record(n, base + Math.floor(n / 5) * 1000));
    const listed = await allPages({ limit: 4 });
    expect(listed).toHaveLength(23);
    expect(new Set(listed).size).toBe(23);
    const times = (await calls.summaries(listed)).map((s) => Date.parse(s!.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('when filtering by state and number, then pages hold only matching calls and together all of them', async () => {
    const base = Date.now() - 60_000;
    for (let n = 1; n <= 40; n++) await calls.adopt(record(n, base + n, n % 3 === 0 ? { state: 'ended' } : {}));
    const ended = await allPages({ state: 'ended', limit: 5 });
    expect(ended).toHaveLength(13);
    const live = await allPages({ state: 'live', limit: 7 });
    expect(live).toHaveLength(27);
    expect(await allPages({ number: '5550012', limit: 5 })).toEqual([sid(12)]);
  });

  it('when the index is over its bounds, then the oldest calls and those older than a record leave it at the next trim, which comes with one call in RECENT_TRIM_EVERY', async () => {
    const now = Date.now();
    // A repository's first call trims.
    await calls.adopt(record(1, now - RECORD_TTL_MS - 60_000));
    await calls.adopt(record(2, now - 1000));
    expect((await calls.recentCalls({ limit: 10 })).map((c) => c.callSid)).toEqual([sid(2), sid(1)]);
    for (let n = 3; n < 3 + RECENT_TRIM_EVERY - 2; n++) await calls.adopt(record(n, now - 1000 + n));
    expect(await calls.recentCount()).toBe(RECENT_TRIM_EVERY);
    await calls.adopt(record(99, now));
    expect(await calls.recentCount()).toBe(RECENT_TRIM_EVERY);
    expect(await redis.zscore(calls.keys.recent, sid(1))).toBeNull();
    await redis.del(calls.keys.recent);
    await calls.adopt(record(2, now - 1000));
    // The count bound, without writing RECENT_CALLS_MAX records: fill the index itself.
    const members: Array<number | string> = [];
    for (let n = 0; n < RECENT_CALLS_MAX; n++) members.push(now - 500_000 + n, `CAfill${n}`);
    for (let i = 0; i < members.length; i += 20_000) await redis.zadd(calls.keys.recent, ...members.slice(i, i + 20_000));
    await calls.trimRecent(now);
    await calls.adopt(record(3, now));
    await calls.trimRecent(now);
    expect(await calls.recentCount()).toBe(RECENT_CALLS_MAX);
    expect((await calls.recentCalls({ limit: 1 }))[0]!.callSid).toBe(sid(3));
    expect(await redis.zscore(calls.keys.recent, 'CAfill0')).toBeNull();
  });

  it('when more Twilio requests are logged than kept, then the newest stay and the log expires with the record', async () => {
    for (let i = 0; i < TWILIO_REQUESTS_MAX + 5; i++) {
      await calls.logTwilioRequest(sid(9), { at: new Date().toISOString(), method: 'POST', path: `/x/${i}`, status: 200, durationMs: 1 });
    }
    const log = await calls.twilioRequests(sid(9));
    expect(log).toHaveLength(TWILIO_REQUESTS_MAX);
    expect(log[0]!.path).toBe('/x/5');
    expect(await redis.pttl(calls.keys.twilioRequests(sid(9)))).toBeGreaterThan(RECORD_TTL_MS - 60_000);
  });
});
