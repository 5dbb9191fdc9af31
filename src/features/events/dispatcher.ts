import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { isUnreachableError, type RedisClient } from '../../redis/connection';
import { EVENT_TYPES, type EventType } from './catalog';
import { deliveryJobId, type EventQueue } from './delivery';
import type { EventEndpoint } from './endpoints';
import { eventKeys, type BridgeEvent } from './sink';
import type { EventStore } from './store';

/** The stream's consumer group: every worker process reads through it, each entry going to one of them. */
export const DISPATCH_GROUP = 'dispatch';

export interface EventDispatcherOptions {
  /** A connection of its own: XREADGROUP blocks it while the stream is empty. */
  redis: RedisClient;
  prefix: string;
  store: EventStore;
  queue: EventQueue;
  endpoints: readonly EventEndpoint[];
  logger: Logger;
  metrics: Metrics;
  /** This process's name in the group. @defaultValue host, pid and a random suffix */
  consumer?: string;
  /** Entries read per round. @defaultValue 200 */
  batchSize?: number;
  /** How long a read waits for new entries (and so how long stop() may wait). @defaultValue 1000 */
  blockMs?: number;
  /** Entries another consumer read and has not acknowledged for this long are taken over (it died). @defaultValue 30000 */
  claimIdleMs?: number;
  /** A consumer (a worker process) idle this long with nothing pending is gone: its name leaves the group. @defaultValue a day */
  forgetConsumersAfterMs?: number;
}

type Entry = [id: string, fields: string[]];


const KNOWN_TYPES = new Set<string>(EVENT_TYPES);

/**
 * Turns the stream of emitted events into deliveries, in the worker: reads entries through a consumer
 * group, records each event in the store, queues one delivery job per endpoint that wants it, then
 * acknowledges and deletes the entries. At least once: entries a killed dispatcher had read are claimed
 * again after `claimIdleMs`, and their second pass adds nothing twice (the store records an event once,
 * and a delivery's job id is fixed by the event and endpoint).
 */
export class EventDispatcher {
  private readonly stream: string;
  private readonly consumer: string;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private groupReady = false;
  private nextClaimAt = 0;
  private lastError = '';

  constructor(private readonly opts: EventDispatcherOptions) {
    this.stream = eventKeys(opts.prefix).stream;
    this.consumer = opts.consumer ?? `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.batchSize = opts.batchSize ?? 200;
    this.blockMs = opts.blockMs ?? 1000;
    this.claimIdleMs = opts.claimIdleMs ?? 30_000;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Finishes the round under way (at most a read's block plus one batch) and stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** One round: entries left by dead consumers when due, else new ones. Returns how many were dispatched. */
  async round(): Promise<number> {
    await this.ensureGroup();
    if (Date.now() >= this.nextClaimAt) {
      this.nextClaimAt = Date.now() + Math.max(this.claimIdleMs / 2, 1000);
      const claimed = await this.claimStale();
      if (claimed) return claimed;
    }
    const reply = (await this.opts.redis.xreadgroup('GROUP', DISPATCH_GROUP, this.consumer, 'COUNT', this.batchSize, 'BLOCK', this.blockMs, 'STREAMS', this.stream, '>')) as
      | Array<[string, Entry[]]>
      | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length) await this.dispatch(entries);
    return entries.length;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.round();
        this.lastError = '';
      } catch (err) {
        const e = err as Error;
        if (e.message.startsWith('NOGROUP')) this.groupReady = false;
        // An unreachable Redis is reported by the connection; anything else once per distinct error.
        if (!isUnreachableError(e) && e.message !== this.lastError) this.opts.logger.error({ err: e }, 'event dispatcher: round failed; retrying');
        this.lastError = e.message;
        if (!this.stopping) await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** The group, created from the stream's start so events emitted before any worker ran are dispatched too. */
  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      await this.opts.redis.xgroup('CREATE', this.stream, DISPATCH_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err as Error).message.startsWith('BUSYGROUP')) throw err;
    }
    this.groupReady = true;
    await this.forgetGoneConsumers();
  }

  /**
   * Each worker process joins the group under a name of its own, so restarts leave names behind: those
   * idle for a day with nothing pending are removed (what they had pending was taken over long before).
   */
  private async forgetGoneConsumers(): Promise<void> {
    const consumers = (await this.opts.redis.xinfo('CONSUMERS', this.stream, DISPATCH_GROUP)) as Array<Array<string | number>>;
    for (const fields of consumers) {
      const info = Object.fromEntries(fields.reduce<Array<[string, string | number]>>((pairs, v, i) => (i % 2 ? pairs : [...pairs, [String(v), fields[i + 1]!]]), []));
      if (info.name !== this.consumer && Number(info.pending) === 0 && Number(info.idle) >= (this.opts.forgetConsumersAfterMs ?? 24 * 3600 * 1000)) {
        await this.opts.redis.xgroup('DELCONSUMER', this.stream, DISPATCH_GROUP, String(info.name));
      }
    }
  }

  /** Takes over entries other consumers read but never acknowledged (a worker killed mid-batch). */
  private async claimStale(): Promise<number> {
    let cursor = '0-0';
    let total = 0;
    do {
      const [next, entries] = (await this.opts.redis.xautoclaim(this.stream, DISPATCH_GROUP, this.consumer, this.claimIdleMs, cursor, 'COUNT', this.batchSize)) as [
        string,
        Array<Entry | null>,
      ];
      const live = entries.filter((e): e is Entry => e !== null && Array.isArray(e[1]));
      if (live.length) {
        this.opts.logger.warn({ entries: live.length }, 'event dispatcher: took over events a stopped worker had read');
        await this.dispatch(live);
      }
      total += live.length;
      cursor = next;
    } while (cursor !== '0-0' && !this.stopping);
    return total;
  }

  private async dispatch(entries: Entry[]): Promise<void> {
    const { store, queue, endpoints, logger } = this.opts;
    const events: Array<{ event: BridgeEvent; body: string; targets: EventEndpoint[] }> = [];
    for (const [entryId, fields] of entries) {
      const event = parseEntry(fields);
      if (!event) {
        logger.error({ entryId }, 'event dispatcher: an entry that is not an event: dropped');
        continue;
      }
      // The body posted is exactly what is stored, and what GET /events shows.
      events.push({ event, body: JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data }), targets: endpoints.filter((e) => e.wants(event.type)) });
    }
    const wanted = events.filter((e) => e.targets.length > 0);
    const statuses = await store.recordAll(wanted.map((e) => ({ event: e.event, body: e.body, endpoints: e.targets.map((t) => t.name) })));
    const jobs = wanted.flatMap((e, i) =>
      e.targets
        .filter((_, j) => statuses[i]![j] === 'pending')
        .map((t) => ({ name: 'deliver' as const, data: { eventId: e.event.id, endpoint: t.name }, opts: { jobId: deliveryJobId(e.event.id, t.name) } })),
    );
    if (jobs.length) await queue.addBulk(jobs);
    const ids = entries.map(([id]) => id);
    await Promise.all([this.opts.redis.xack(this.stream, DISPATCH_GROUP, ...ids), this.opts.redis.xdel(this.stream, ...ids), store.trim(new Set(wanted.map((e) => e.event.type)))]);
  }
}

/** An entry's event (field `e`: its JSON), or undefined for anything else. */
function parseEntry(fields: string[]): BridgeEvent | undefined {
  const raw = fields[fields.indexOf('e') + 1];
  if (fields.indexOf('e') < 0 || raw === undefined) return undefined;
  try {
    const e = JSON.parse(raw) as Partial<BridgeEvent>;
    if (typeof e.id !== 'string' || typeof e.type !== 'string' || !KNOWN_TYPES.has(e.type) || typeof e.timestamp !== 'string' || Number.isNaN(Date.parse(e.timestamp))) return undefined;
    if (typeof e.data !== 'object' || e.data === null) return undefined;
    return { id: e.id, type: e.type as EventType, timestamp: e.timestamp, data: e.data };
  } catch {
    return undefined;
  }
}
