/**
 * The do-not-call list against the real Redis: numbers in any common form are kept once each, in E.164,
 * with the time and source of their first listing; lookups of one number or of thousands are one command.
 */
import { Redis } from 'ioredis';
import { DoNotCallList, normalizeNumber } from '../../../src/features/dnc';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../../support/redis';
import { testContainer } from '../../support/container';

describe('DoNotCallList', () => {
  let redis: Redis;
  let prefix: string;
  let list: DoNotCallList;

  beforeEach(() => {
    prefix = uniquePrefix('dnc');
    redis = new Redis(TEST_REDIS_URL);
    list = new DoNotCallList(redis, prefix);
  });
  afterEach(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });

  it('normalises numbers to E.164 and refuses what is not a possible number', () => {
    expect(normalizeNumber('+1 (415) 555-0199')).toBe('+14155550199');
    expect(normalizeNumber('tel:+44 20 7946 0000')).toBe('+442079460000');
    expect(normalizeNumber(' +14155550100 ')).toBe('+14155550100');
    for (const bad of ['4155550100', '+12', '+999123456789', '', 'STOP', '+1415555010012345', 42, null, undefined, '+1'.padEnd(100, '5')]) {
      expect(normalizeNumber(bad)).toBeNull();
    }
  });

  it('when numbers are added, then each is listed once, under its E.164 form, with its first time and source', async () => {
    expect(await list.add(['+14155550101', '+1 415 555 0102', '+14155550101', 'nonsense'], 'api')).toEqual({ added: 2 });
    expect(await list.has('+1 (415) 555-0101')).toBe(true);
    expect(await list.has('+14155550103')).toBe(false);
    const first = await list.get('+14155550102');
    expect(first).toEqual({ number: '+14155550102', added_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), source: 'api' });

    // Listed again from elsewhere: the first listing stands.
    expect(await list.add(['+14155550102', '+14155550103'], 'sms_stop')).toEqual({ added: 1 });
    expect(await list.get('+14155550102')).toEqual(first);
    expect((await list.get('+14155550103'))?.source).toBe('sms_stop');
    // One record per number in one hash.
    expect(await redis.hlen(`${prefix}:dnc`)).toBe(3);
  });

  it('when thousands of numbers are checked, then the answer is in order, one per number, in one command', async () => {
    const numbers = Array.from({ length: 10_000 }, (_, i) => `+1415${String(5_000_000 + i).padStart(7, '0')}`);
    await list.add(numbers.filter((_, i) => i % 3 === 0), 'import');
    const watcher = redis.duplicate();
    const monitor = await watcher.monitor();
    const commands: string[] = [];
    monitor.on('monitor', (_t: string, args: string[]) => {
      if (args[1] === `${prefix}:dnc`) commands.push(args[0]!);
    });
    const answer = await list.hasMany([...numbers, 'not a number', numbers[0]!]);
    await new Promise((r) => setTimeout(r, 100));
    monitor.disconnect();
    watcher.disconnect();
    expect(answer).toHaveLength(10_002);
    expect(answer.slice(0, 10_000)).toEqual(numbers.map((_, i) => i % 3 === 0));
    expect(answer.slice(10_000)).toEqual([false, true]);
    expect(commands).toEqual(['hmget']);
  });

  it('when nothing valid is asked about, then nothing is sent to Redis', async () => {
    expect(await list.hasMany([])).toEqual([]);
    expect(await list.hasMany(['x', ''])).toEqual([false, false]);
    expect(await list.add([], 'api')).toEqual({ added: 0 });
    expect(await list.get('x')).toBeNull();
    expect(await list.remove('x')).toBe(false);
  });

  it('when a number is removed, then it is no longer listed, and removing it again says so', async () => {
    await list.add(['+14155550104'], 'api');
    expect(await list.remove('+1 415 555 0104')).toBe(true);
    expect(await list.has('+14155550104')).toBe(false);
    expect(await list.get('+14155550104')).toBeNull();
    expect(await list.remove('+14155550104')).toBe(false);
  });

  it('a record damaged by hand still reads as listed', async () => {
    await redis.hset(`${prefix}:dnc`, '+14155550105', 'not json');
    expect(await list.get('+14155550105')).toEqual({ number: '+14155550105', added_at: '', source: 'unknown' });
    expect(await list.has('+14155550105')).toBe(true);
  });
});

describe('Container.doNotCall and STOP', () => {
  it('the default opt-out lists the sender with source sms_stop', async () => {
    const t = await testContainer();
    try {
      await t.container.optOut('+14155550106');
      expect(await t.container.doNotCall.get('+14155550106')).toMatchObject({ number: '+14155550106', source: 'sms_stop' });
    } finally {
      await deletePrefix(t.container.config.redis.prefix);
      await t.close();
    }
  });
});
