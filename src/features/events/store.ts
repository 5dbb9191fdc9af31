import type { RedisClient } from '../../redis/connection';
import { ScriptedStore } from '../../redis/scripts';
import { EVENT_TYPES, type EventType } from './catalog';
import type { BridgeEvent } from './sink';

/** Where an event stands with one endpoint. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One endpoint's record of an event's delivery. */
export interface DeliveryRecord {
  status: DeliveryStatus;
  /** Requests sent so far (retries and redeliveries included). */
  attempts: number;
  /** The last answer: an HTTP status, or why there was none (`timeout`, `unreachable: ECONNREFUSED`, `too_large`). */
  last?: string;
  lastAt?: string;
  deliveredAt?: string;
}

/** An event as stored: the exact body posted, and each endpoint's delivery. */
export interface StoredEvent {
  id: string;
  type: EventType;
  /** `{"type","timestamp","data"}`, byte for byte what is posted (and signed). */
  body: string;
  /** Milliseconds since the epoch, from `timestamp`. */
  at: number;
  /** By endpoint name (`events`, `outbound`). */
  deliveries: Record<string, DeliveryRecord>;
}

/** How one attempt ended, as the store records it. */
export type SettleOutcome = 'delivered' | 'retry' | 'failed';

/** What settling an attempt changed: `marked` the first delivery; `already` an event delivered before. */
export type SettleResult = 'marked' | 'already' | 'recorded' | 'expired';

/**
 * Key names. An event's record is a hash and its body, tagged by its id; the indexes are sorted sets by
 * time: each type's (all events together are the types' merged), and each call's (tagged by its CallSid,
 * as the call record is).
 */
export function eventStoreKeys(prefix: string) {
  return {
    event: (id: string) => `${prefix}:event:{${id}}`,
    /** The body, apart: in the hash, a value this long would make Redis give up its compact encoding (twice the memory). */
    body: (id: string) => `${prefix}:event:{${id}}:body`,
    byType: (type: string) => `${prefix}:events:type:${type}`,
    byCall: (callSid: string) => `${prefix}:events:call:{${callSid}}`,
  };
}

/**
 * Records the event unless it is there already (a re-read of the stream, a fact reported twice), with a
 * pending delivery for each endpoint that has none yet; returns each endpoint's status.
 * ARGV: TTL ms, type, at ms, endpoints...
 */
const RECORD = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'type', ARGV[2], 'at', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local out = {}
for i = 4, #ARGV do
  local field = ARGV[i] .. '.status'
  local status = redis.call('HGET', KEYS[1], field)
  if not status then
    status = 'pending'
    redis.call('HSET', KEYS[1], field, status)
  end
  out[#out + 1] = status
end
return out
`;

/**
 * One attempt's outcome for one endpoint. The first success marks the event delivered, once: a later one
 * (a worker killed between the answer and this mark, whose job ran again; a redelivery) is counted as an
 * attempt and answered 0. A delivered event is never marked failed afterwards.
 * ARGV: endpoint, outcome (delivered | retry | failed), last answer, now (ISO).
 */
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ep = ARGV[1]
redis.call('HINCRBY', KEYS[1], ep .. '.attempts', 1)
redis.call('HSET', KEYS[1], ep .. '.last', ARGV[3], ep .. '.lastAt', ARGV[4])
local status = redis.call('HGET', KEYS[1], ep .. '.status')
if status == 'delivered' then return 0 end
if ARGV[2] == 'delivered' then
  redis.call('HSET', KEYS[1], ep .. '.status', 'delivered', ep .. '.deliveredAt', ARGV[4])
  return 1
end
if ARGV[2] == 'failed' then redis.call('HSET', KEYS[1], ep .. '.status', 'failed') end
return 2
`;

/**
 * A redelivery asked for: each endpoint's delivery that is not delivered goes back to pending; returns the
 * redelivery's number (for its jobs' ids), or nil for an unknown or expired event. ARGV: endpoints...
 */
const REDELIVER = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
for i = 1, #ARGV do
  local field = ARGV[i] .. '.status'
  if redis.call('HGET', KEYS[1], field) ~= 'delivered' then redis.call('HSET', KEYS[1], field, 'pending') end
end
return redis.call('HINCRBY', KEYS[1], 'redeliveries', 1)
`;

/** Adds to a call's index and keeps it for the retention from its latest event. ARGV: TTL ms, score, member, ... */
const INDEX_CALL = `
redis.call('ZADD', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

interface Commands {
  eventsIndexCall(key: string, ttlMs: number, ...scoresAndMembers: Array<number | string>): Promise<number>;
  eventsRecord(key: string, ttlMs: number, type: string, at: number, ...endpoints: string[]): Promise<string[]>;
  eventsSettle(key: string, endpoint: string, outcome: SettleOutcome, last: string, now: string): Promise<number>;
  eventsRedeliver(key: string, ...endpoints: string[]): Promise<number | null>;
}

const SCRIPTS: Record<keyof Commands, string> = { eventsRecord: RECORD, eventsSettle: SETTLE, eventsRedeliver: REDELIVER, eventsIndexCall: INDEX_CALL };

function push(groups: Map<string, Array<number | string>>, key: string, score: number, member: string): void {
  const list = groups.get(key);
  if (list) list.push(score, member);
  else groups.set(key, [score, member]);
}

/** The longest last answer kept: short enough for Redis to keep the hash in its compact encoding (64-byte values). */
const LAST_ANSWER_MAX = 60;

/** The most events `GET /events` returns at once. */
export const MAX_LIST_LIMIT = 100;

/** A query of `GET /events`: a type (or a prefix ending in `*`), a time from which, and how many. */
export interface EventQuery {
  type?: string;
  /** Milliseconds since the epoch: events at or after it. */
  since?: number;
  /** @defaultValue 50 */
  limit?: number;
}

/** The event types a `type` query names: one type, or every type starting with a prefix ending in `*`. */
export function typesOf(query: string): EventType[] {
  if (query.endsWith('*')) return EVENT_TYPES.filter((t) => t.startsWith(query.slice(0, -1)));
  return EVENT_TYPES.filter((t) => t === query);
}

/**
 * The one owner of event records: each event's body and its deliveries' hash, the indexes by time, type
 * and call, and every script on them (one key each, so they run on Redis Cluster). Records expire after
 * the retention (EVENTS_RETENTION_HOURS); the indexes are trimmed to it as events are added.
 *
 * An event costs its body plus about 700 bytes: its body's key, a compact hash of its deliveries, an entry
 * in its type's index, and its share of its call's (BENCHMARKS.md has the measured figures).
 */
export class EventStore extends ScriptedStore<ReturnType<typeof eventStoreKeys>, Commands> {
  constructor(
    redis: RedisClient,
    prefix: string,
    private readonly retentionMs: number,
  ) {
    super(redis, eventStoreKeys(prefix), SCRIPTS);
  }

  /**
   * Records `event` (once) with a delivery for each of `endpoints`, indexes it, and returns each endpoint's
   * status: only a `pending` one still needs a delivery job.
   */
  async record(event: BridgeEvent, body: string, endpoints: readonly string[]): Promise<DeliveryStatus[]> {
    return (await this.recordAll([{ event, body, endpoints }]))[0]!;
  }

  /**
   * `record` for a batch (the dispatcher's), sent together in one round trip: each event's record and body,
   * then one ZADD per type and one per call for the whole batch (separate commands, so each key keeps to
   * its own slot on a Cluster).
   */
  async recordAll(items: ReadonlyArray<{ event: BridgeEvent; body: string; endpoints: readonly string[] }>): Promise<DeliveryStatus[][]> {
    const byType = new Map<string, Array<number | string>>();
    const byCall = new Map<string, Array<number | string>>();
    const records = items.map(({ event, body, endpoints }) => {
      const at = Date.parse(event.timestamp);
      const callSid = (event.data as { call_sid?: unknown }).call_sid;
      push(byType, this.keys.byType(event.type), at, event.id);
      if (typeof callSid === 'string' && callSid) push(byCall, this.keys.byCall(callSid), at, event.id);
      return Promise.all([
        this.redis.eventsRecord(this.keys.event(event.id), this.retentionMs, event.type, at, ...endpoints),
        // The first body written is the event's, as the first record is (NX): a fact reported twice keeps its first report.
        this.redis.set(this.keys.body(event.id), body, 'PX', this.retentionMs, 'NX'),
      ]).then(([statuses]) => statuses as DeliveryStatus[]);
    });
    const indexes = [
      ...[...byType].map(([key, members]) => this.redis.zadd(key, ...members)),
      ...[...byCall].map(([key, members]) => this.redis.eventsIndexCall(key, this.retentionMs, ...members)),
    ];
    const [statuses] = await Promise.all([Promise.all(records), ...indexes]);
    return statuses;
  }

  /** Drops index entries older than the retention (their records have expired), for the types given. */
  async trim(types: Iterable<string>, now = Date.now()): Promise<void> {
    const oldest = now - this.retentionMs;
    await Promise.all([...types].map((t) => this.redis.zremrangebyscore(this.keys.byType(t), '-inf', `(${oldest}`)));
  }

  /** What a delivery attempt needs: the body, and the endpoint's status; null once the event has expired. */
  async forDelivery(id: string, endpoint: string): Promise<{ body: string; status: DeliveryStatus | undefined } | null> {
    const [body, status] = await Promise.all([this.redis.get(this.keys.body(id)), this.redis.hget(this.keys.event(id), `${endpoint}.status`)]);
    if (body === null) return null;
    return { body, status: (status ?? undefined) as DeliveryStatus | undefined };
  }

  /** Records an attempt's outcome for `endpoint`; marks the event delivered the first time only. */
  async settle(id: string, endpoint: string, outcome: SettleOutcome, last: string): Promise<SettleResult> {
    const reply = await this.redis.eventsSettle(this.keys.event(id), endpoint, outcome, last.slice(0, LAST_ANSWER_MAX), new Date().toISOString());
    return reply === -1 ? 'expired' : reply === 1 ? 'marked' : reply === 0 ? 'already' : 'recorded';
  }

  /** Puts the event's deliveries to `endpoints` back to pending (unless delivered); its redelivery number, or null when unknown or expired. */
  async redeliver(id: string, endpoints: readonly string[]): Promise<number | null> {
    const n = await this.redis.eventsRedeliver(this.keys.event(id), ...endpoints);
    return n === null ? null : Number(n);
  }

  async get(id: string): Promise<StoredEvent | null> {
    const [hash, body] = await Promise.all([this.redis.hgetall(this.keys.event(id)), this.redis.get(this.keys.body(id))]);
    return body === null ? null : parseStored(id, hash, body);
  }

  /** The newest events first, within the retention; `type` is a type or a prefix ending in `*`. */
  async list(query: EventQuery = {}): Promise<StoredEvent[]> {
    const limit = Math.min(Math.max(query.limit ?? 50, 1), MAX_LIST_LIMIT);
    const from = Math.max(query.since ?? 0, Date.now() - this.retentionMs);
    const keys = (query.type === undefined ? EVENT_TYPES : typesOf(query.type)).map((t) => this.keys.byType(t));
    const pages = await Promise.all(keys.map((key) => this.redis.zrange(key, '+inf', String(from), 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES')));
    const entries: Array<{ id: string; at: number }> = [];
    for (const page of pages) for (let i = 0; i < page.length; i += 2) entries.push({ id: page[i]!, at: Number(page[i + 1]) });
    // Several types' pages merge into one: newest first, ties in id order (ids are time-ordered).
    entries.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1));
    const wanted = entries.slice(0, limit);
    const events = await Promise.all(wanted.map((e) => this.get(e.id)));
    return events.filter((e): e is StoredEvent => e !== null);
  }

  /** A call's events, oldest first (`simulate`, the console). */
  async forCall(callSid: string): Promise<StoredEvent[]> {
    const ids = await this.redis.zrange(this.keys.byCall(callSid), '0', '-1');
    const events = await Promise.all(ids.map((id) => this.get(id)));
    return events.filter((e): e is StoredEvent => e !== null);
  }
}

function parseStored(id: string, hash: Record<string, string>, body: string): StoredEvent | null {
  if (!hash.type) return null;
  const deliveries: Record<string, DeliveryRecord> = {};
  for (const [field, value] of Object.entries(hash)) {
    const dot = field.lastIndexOf('.');
    if (dot < 0) continue;
    const endpoint = field.slice(0, dot);
    const name = field.slice(dot + 1);
    const d = (deliveries[endpoint] ??= { status: 'pending', attempts: 0 });
    if (name === 'status') d.status = value as DeliveryStatus;
    else if (name === 'attempts') d.attempts = Number(value);
    else if (name === 'last') d.last = value;
    else if (name === 'lastAt') d.lastAt = value;
    else if (name === 'deliveredAt') d.deliveredAt = value;
  }
  return { id, type: hash.type as EventType, body, at: Number(hash.at), deliveries };
}
