import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from '../../observability/logger';
import type { RedisClient } from '../../redis/connection';
import type { EventPayloads, EventSink, EventType, PreparedEvent } from './catalog';

/** An event as it is kept and posted: Standard Webhooks' `{type, timestamp, data}`, with the id that is its `webhook-id`. */
export interface BridgeEvent<T extends EventType = EventType> {
  id: string;
  type: T;
  /** ISO 8601, when it happened. */
  timestamp: string;
  data: EventPayloads[T];
}

/**
 * The most events waiting in the stream for the worker to take them. The stream is the buffer between a
 * call's path and delivery: while no worker runs it grows, and past this the oldest are dropped (and
 * counted), so a stopped worker cannot fill Redis.
 */
export const EVENT_STREAM_MAX_LENGTH = 100_000;

export function eventKeys(prefix: string) {
  return {
    /** Emitted events not yet taken for delivery (a Redis stream, read by the worker's dispatcher). */
    stream: `${prefix}:events:stream`,
  };
}

/** Whether `type` matches one of EVENTS_TYPES' entries: a type, a prefix ending in `*`, or `*`. */
export function typeFilter(patterns: readonly string[]): (type: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (type) => exact.has(type) || prefixes.some((p) => type.startsWith(p));
}

/**
 * An event's id: random and time-ordered (`evt_` + milliseconds + random), or, for a fact that may be
 * reported more than once, derived from its type and key, so every report of it is the same event.
 */
export function eventId(type: string, key?: string): string {
  if (key !== undefined) return `evt_${createHash('sha256').update(`${type}\n${key}`).digest('hex').slice(0, 26)}`;
  return `evt_${Date.now().toString(36).padStart(9, '0')}${randomBytes(9).toString('hex')}`;
}

/**
 * Emits events into the stream: one XADD on the caller's path, never an HTTP request, never a throw (an
 * event lost while Redis is unreachable is logged, and the call goes on). The worker's dispatcher turns
 * each into its deliveries.
 */
export class StreamEventSink implements EventSink {
  private readonly key: string;
  private readonly wanted: (type: string) => boolean;

  constructor(
    private readonly deps: {
      redis: RedisClient;
      prefix: string;
      /** Which types are kept at all (EVENTS_TYPES, and the outbound webhook's types). */
      wanted: (type: string) => boolean;
      logger: Logger;
      /** Told of each event written. */
      onEmitted?: (type: EventType) => void;
      /** Told of each event lost (Redis unreachable). */
      onDropped?: (type: EventType) => void;
    },
  ) {
    this.key = eventKeys(deps.prefix).stream;
    this.wanted = deps.wanted;
  }

  wants(type: EventType): boolean {
    return this.wanted(type);
  }

  async emit<T extends EventType>(type: T, data: EventPayloads[T], opts: { key?: string } = {}): Promise<void> {
    await this.prepare(type, data, opts)?.write();
  }

  prepare<T extends EventType>(type: T, data: EventPayloads[T], opts: { key?: string } = {}): PreparedEvent | undefined {
    if (!this.wanted(type)) return undefined;
    const event: BridgeEvent<T> = { id: eventId(type, opts.key), type, timestamp: new Date().toISOString(), data };
    const entry = JSON.stringify(event);
    return {
      stream: this.key,
      maxLength: EVENT_STREAM_MAX_LENGTH,
      entry,
      appended: () => this.deps.onEmitted?.(type),
      write: async () => {
        try {
          await this.deps.redis.xadd(this.key, 'MAXLEN', '~', EVENT_STREAM_MAX_LENGTH, '*', 'e', entry);
          this.deps.onEmitted?.(type);
        } catch (err) {
          this.deps.onDropped?.(type);
          this.deps.logger.error({ err: (err as Error).message, eventType: type, eventId: event.id }, 'event not recorded: redis unavailable');
        }
      },
    };
  }
}

/** The sink when no endpoint wants events: nothing is written. */
export const NO_EVENTS: EventSink = { emit: async () => undefined, wants: () => false, prepare: () => undefined };
