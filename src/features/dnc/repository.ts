import type { RedisClient } from '../../redis/connection';
import { normalizeNumber } from './number';

/** Where a number on the list came from. */
export type DoNotCallSource = string;

/** One number on the do-not-call list. */
export interface DoNotCallEntry {
  /** E.164. */
  number: string;
  /** ISO 8601, when it was first listed. */
  added_at: string;
  /** Who listed it: `api`, `sms_stop`, `agent`, or a source of the caller's choosing. */
  source: DoNotCallSource;
}

export function doNotCallKeys(prefix: string) {
  return {
    /** The whole list: field = the E.164 number, value = JSON `{added_at, source}`. */
    list: `${prefix}:dnc`,
  };
}

/** The longest `source` kept; a longer one is cut (it is a label, not a document). */
export const MAX_SOURCE_CHARS = 64;

/**
 * The do-not-call list, in Redis: one hash for every number (one record per number, its time and
 * source), so a lookup of one number or of ten thousand is one command. Numbers are kept in E.164;
 * whatever form a caller passes is normalised first, and something that is not a possible phone number
 * is never on the list.
 */
export class DoNotCallList {
  readonly keys: ReturnType<typeof doNotCallKeys>;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = doNotCallKeys(prefix);
  }

  async has(number: string): Promise<boolean> {
    const e164 = normalizeNumber(number);
    if (!e164) return false;
    return (await this.redis.hexists(this.keys.list, e164)) === 1;
  }

  /** Whether each of `numbers` is listed, in order, in one round trip (an import of 10,000 rows). */
  async hasMany(numbers: readonly string[]): Promise<boolean[]> {
    const normalized = numbers.map(normalizeNumber);
    const asked = [...new Set(normalized.filter((n): n is string => n !== null))];
    if (!asked.length) return numbers.map(() => false);
    const found = await this.redis.hmget(this.keys.list, ...asked);
    const listed = new Set(asked.filter((_, i) => found[i] !== null));
    return normalized.map((n) => n !== null && listed.has(n));
  }

  /**
   * Lists `numbers` (numbers not possible are skipped). A number already listed keeps its first time and
   * source. `added`: how many were not listed before.
   */
  async add(numbers: readonly string[], source: DoNotCallSource): Promise<{ added: number }> {
    const unique = [...new Set(numbers.map(normalizeNumber).filter((n): n is string => n !== null))];
    if (!unique.length) return { added: 0 };
    const value = JSON.stringify({ added_at: new Date().toISOString(), source: source.slice(0, MAX_SOURCE_CHARS) });
    // One transaction: one round trip, and no reader sees half of an import.
    const multi = this.redis.multi();
    for (const n of unique) multi.hsetnx(this.keys.list, n, value);
    const replies = (await multi.exec()) ?? [];
    let added = 0;
    for (const [err, reply] of replies) {
      if (err) throw err;
      if (reply === 1) added += 1;
    }
    return { added };
  }

  async get(number: string): Promise<DoNotCallEntry | null> {
    const e164 = normalizeNumber(number);
    if (!e164) return null;
    const raw = await this.redis.hget(this.keys.list, e164);
    if (raw === null) return null;
    const record = parseRecord(raw);
    return { number: e164, added_at: record.added_at, source: record.source };
  }

  /** Takes the number off the list; false when it was not on it. */
  async remove(number: string): Promise<boolean> {
    const e164 = normalizeNumber(number);
    if (!e164) return false;
    return (await this.redis.hdel(this.keys.list, e164)) === 1;
  }
}

/** A stored record; one written by hand or damaged still reads as listed (listed is what matters). */
function parseRecord(raw: string): { added_at: string; source: string } {
  try {
    const v = JSON.parse(raw) as { added_at?: unknown; source?: unknown };
    return { added_at: typeof v.added_at === 'string' ? v.added_at : '', source: typeof v.source === 'string' ? v.source : 'unknown' };
  } catch {
    return { added_at: '', source: 'unknown' };
  }
}
