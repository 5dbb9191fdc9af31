import { insideWindow, nextOpening, zoneOfNumber } from '../../../src/features/campaigns';

const weekdays = [1, 2, 3, 4, 5];
const nineToFive = { startMin: 9 * 60, endMin: 17 * 60, days: weekdays };
const iso = (ms: number) => new Date(ms).toISOString();

describe('calling windows', () => {
  it('when a task is inside its window, then it may be dialed now; at the end minute it may not', () => {
    const t = Date.UTC(2026, 2, 4, 15, 0); // Wed 10:00 EST
    expect(insideWindow(t, 'America/New_York', nineToFive)).toBe(true);
    expect(nextOpening(t, 'America/New_York', nineToFive)).toBe(t);
    expect(insideWindow(Date.UTC(2026, 2, 4, 22, 0), 'America/New_York', nineToFive)).toBe(false); // 17:00 EST
  });

  it('when the window opens after a DST change, then the opening is 09:00 local on the new offset (spring and autumn)', () => {
    expect(iso(nextOpening(Date.UTC(2026, 2, 6, 23, 0), 'America/New_York', nineToFive))).toBe('2026-03-09T13:00:00.000Z');
    expect(iso(nextOpening(Date.UTC(2026, 9, 30, 22, 0), 'Europe/Paris', nineToFive))).toBe('2026-11-02T08:00:00.000Z');
    expect(iso(nextOpening(Date.UTC(2026, 2, 27, 17, 0), 'Europe/Paris', nineToFive))).toBe('2026-03-30T07:00:00.000Z');
  });

  it('when the opening falls in the spring-forward gap, then it moves forward by the gap (02:30 → 03:30)', () => {
    const w = { startMin: 2 * 60 + 30, endMin: 5 * 60, days: [7] }; // Sundays 02:30-05:00
    expect(iso(nextOpening(Date.UTC(2026, 2, 8, 5, 0), 'America/New_York', w))).toBe('2026-03-08T07:30:00.000Z'); // 03:30 EDT
  });

  it('when there is no window, then any time is inside', () => {
    expect(nextOpening(123, 'UTC', undefined)).toBe(123);
  });

  it('when a number determines one time zone, then that one; a number spanning zones determines none', () => {
    expect(zoneOfNumber('+12125550100')).toBe('America/New_York');
    expect(zoneOfNumber('+14155550100')).toBe('America/Los_Angeles');
    expect(zoneOfNumber('+33142685300')).toBe('Europe/Paris');
    expect(zoneOfNumber('+442079460000')).toBe('Europe/London');
    expect(zoneOfNumber('+18005550100')).toBeNull(); // toll-free: all of North America
    expect(zoneOfNumber('not a number')).toBeNull();
  });
});
