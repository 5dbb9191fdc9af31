import { Queue, UnrecoverableError, type BackoffStrategy, type Job, type JobsOptions } from 'bullmq';
import { Agent, type Dispatcher } from 'undici';
import { boundedPost, PostError } from '../../http/bounded-post';
import { queueBase } from '../../jobs/queues';
import { lazyChild, type CallLog, type Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { answered, failed, withClientSpan } from '../../observability/tracing';
import type { RedisClient } from '../../redis/connection';
import type { EndpointName, EventEndpoint, OutboundEndpoint } from './endpoints';
import type { EventStore } from './store';

/** Deliveries, one job per event and endpoint, on a queue of their own: a slow receiver never holds up a call. */
export const EVENTS_QUEUE = 'events';

/** Deliveries queued by versions before events, drained by the same code (see LegacyOutboundJob). */
export const OUTBOUND_EVENTS_QUEUE = 'outbound-events';

/** Deliveries a worker process runs at once: each mostly waits on a receiver, so many cost little. */
export const EVENT_DELIVERY_CONCURRENCY = 50;

/** A delivery's whole exchange, from connecting to the answer's last byte. */
export const DELIVERY_TIMEOUT_MS = 10_000;

/** The most of an answer's body read; a longer answer fails the attempt, and the connection is dropped. */
export const DELIVERY_ANSWER_MAX_BYTES = 64 * 1024;

/**
 * The wait before each retry: the first two within a minute, then growing, about a day in all (23 h 40 min
 * of waits, 11 attempts). Each wait varies by ±20 %, so a receiver back from an outage is not hit by every
 * event at the same instant.
 */
export const RETRY_DELAYS_MS: readonly number[] = [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 28_800_000];

/** The custom backoff's name on jobs and the worker (BullMQ's `backoff.type`). */
export const DELIVERY_BACKOFF = 'event-schedule';

/** The wait before retry number `retry` (1 = the first), with jitter. */
export function retryDelay(retry: number, delays: readonly number[] = RETRY_DELAYS_MS, random = Math.random): number {
  const base = delays[Math.min(Math.max(retry, 1), delays.length) - 1]!;
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** BullMQ's backoff strategy for the delivery worker (`settings.backoffStrategy`). */
export function deliveryBackoff(delays: readonly number[] = RETRY_DELAYS_MS): BackoffStrategy {
  return (attemptsMade) => retryDelay(attemptsMade, delays);
}

export function deliveryJobOptions(delays: readonly number[] = RETRY_DELAYS_MS): JobsOptions {
  return {
    attempts: delays.length + 1,
    backoff: { type: DELIVERY_BACKOFF },
    // The event's record says it was delivered (and keeps a re-read of the stream from queueing it again):
    // a finished job need not stay, and removing it at once spares Redis the completed set's upkeep.
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}

/** One delivery: event `eventId` to endpoint `endpoint`. `redelivery`: asked for by POST /events/{id}/redeliver, sent even if delivered. */
export interface DeliveryJob {
  eventId: string;
  endpoint: EndpointName;
  redelivery?: number;
}

export type EventQueue = Queue<DeliveryJob, unknown, 'deliver'>;

export function createEventQueue(connection: RedisClient, redisPrefix: string, delays?: readonly number[]): EventQueue {
  return new Queue<DeliveryJob, unknown, 'deliver'>(EVENTS_QUEUE, { ...queueBase(connection, redisPrefix), defaultJobOptions: deliveryJobOptions(delays) });
}

/** The job id of a delivery: one per event and endpoint (and per redelivery), however often it is queued. */
export function deliveryJobId(eventId: string, endpoint: EndpointName, redelivery?: number): string {
  return redelivery ? `${eventId}-${endpoint}-r${redelivery}` : `${eventId}-${endpoint}`;
}

/** A job of the `outbound-events` queue of earlier versions: the body fixed when the status changed. */
export interface LegacyOutboundJob {
  id: string;
  status: string;
  body: string;
}

/** How one POST went. */
export type PostOutcome =
  | { kind: 'answered'; status: number }
  /** No complete answer: refused, reset, TLS rejected, too slow, or too long. */
  | { kind: 'no_answer'; reason: string };

/**
 * Posts to receivers: keep-alive connections per origin, a deadline on the whole exchange, and at most
 * DELIVERY_ANSWER_MAX_BYTES of an answer read. Redirects are answers (3xx), never followed; a certificate
 * that does not verify is no answer. Nothing a receiver does holds memory or a connection past the deadline.
 */
export class WebhookPoster {
  private readonly dispatcher: Dispatcher = new Agent({ keepAliveTimeout: 30_000, pipelining: 1, connect: { timeout: DELIVERY_TIMEOUT_MS } });

  /** One POST, in a client span (`event.post`) with `attributes` (the event and the endpoint). */
  post(url: string, body: string, headers: Record<string, string>, attributes: Record<string, string> = {}): Promise<PostOutcome> {
    return withClientSpan('event.post', { method: 'POST', url }, attributes, async (span) => {
      try {
        const answer = await boundedPost(this.dispatcher, url, { headers, body, timeoutMs: DELIVERY_TIMEOUT_MS, maxBytes: DELIVERY_ANSWER_MAX_BYTES });
        answered(span, answer.status);
        return { kind: 'answered', status: answer.status };
      } catch (err) {
        failed(span, err);
        if (err instanceof PostError) return { kind: 'no_answer', reason: err.kind === 'unreachable' ? `unreachable: ${err.message}` : err.kind };
        return { kind: 'no_answer', reason: (err as Error).message };
      }
    });
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

export type DeliveryResult = 'delivered' | 'delivered_before' | 'already_delivered' | 'expired' | 'no_endpoint';

export interface EventDeliveriesDeps {
  store: EventStore;
  endpoints: readonly EventEndpoint[];
  poster: WebhookPoster;
  logger: Logger;
  metrics: Metrics;
}

/** What an attempt's answer means for its job: delivered, failed for good, or to be retried. */
type Verdict = { kind: 'delivered'; last: string } | { kind: 'final' | 'retry' | 'exhausted'; last: string };

function verdict(endpoint: EventEndpoint, outcome: PostOutcome, job: Job): Verdict {
  if (outcome.kind === 'answered' && outcome.status >= 200 && outcome.status < 300) return { kind: 'delivered', last: String(outcome.status) };
  const last = outcome.kind === 'answered' ? String(outcome.status) : outcome.reason;
  if (outcome.kind === 'answered' && endpoint.refusesForGood(outcome.status)) return { kind: 'final', last };
  return { kind: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) ? 'exhausted' : 'retry', last };
}

/**
 * The delivery worker's processor: one job, one POST. A 2xx marks the event delivered (once, however
 * often it is posted); an answer the endpoint takes as final fails it for good; anything else is recorded
 * and thrown, and BullMQ retries it on the schedule until the attempts run out.
 */
export class EventDeliveries {
  private readonly byName: ReadonlyMap<string, EventEndpoint>;

  constructor(private readonly deps: EventDeliveriesDeps) {
    this.byName = new Map(deps.endpoints.map((e) => [e.name, e]));
  }

  async process(job: Job<DeliveryJob>): Promise<DeliveryResult> {
    const { eventId, endpoint: name, redelivery } = job.data;
    // Made only when a line is written: most deliveries write none.
    const log = lazyChild(this.deps.logger, { eventId, endpoint: name, attempt: job.attemptsMade + 1, ...(redelivery ? { redelivery } : {}) });
    const endpoint = this.byName.get(name);
    if (!endpoint) {
      log.warn('delivery for an endpoint that is no longer configured: dropped');
      return 'no_endpoint';
    }
    const stored = await this.deps.store.forDelivery(eventId, name);
    if (!stored) {
      this.count(name, 'expired');
      log.warn('event expired before it could be delivered (EVENTS_RETENTION_HOURS)');
      return 'expired';
    }
    // A job queued again after a crash (the stream re-read, a finished job's id gone) finds it delivered.
    if (!redelivery && stored.status === 'delivered') return 'already_delivered';

    const request = endpoint.request(eventId, stored.body, new Date());
    const v = verdict(endpoint, await this.deps.poster.post(endpoint.url, request.body, request.headers, { 'bridge.event_id': eventId, 'bridge.event.endpoint': name }), job);
    if (v.kind === 'delivered') {
      const settled = await this.deps.store.settle(eventId, name, 'delivered', v.last);
      this.count(name, 'delivered');
      // One line per event marked delivered (the fault suite counts them: never two for one event).
      if (settled === 'marked') log.debug({ answer: v.last }, 'event delivered');
      else log.debug({ answer: v.last, settled }, 'event posted again: it was delivered before');
      return settled === 'marked' ? 'delivered' : 'delivered_before';
    }
    await this.deps.store.settle(eventId, name, v.kind === 'retry' ? 'retry' : 'failed', v.last);
    return this.notDelivered(name, v, log);
  }

  /**
   * A job left on the `outbound-events` queue by a version before events: its body was fixed when the
   * status changed, and it is posted as then (signed anew), through the same poster and rules.
   */
  async processLegacy(job: Job<LegacyOutboundJob>): Promise<'delivered'> {
    const endpoint = this.deps.endpoints.find((e): e is OutboundEndpoint => e.name === 'outbound');
    if (!endpoint) throw new UnrecoverableError('OUTBOUND_WEBHOOK_URL is no longer set');
    const log = this.deps.logger.child({ jobId: job.id, outboundId: job.data.id, status: job.data.status, attempt: job.attemptsMade + 1 });
    const request = endpoint.signed(job.data.body);
    const v = verdict(endpoint, await this.deps.poster.post(endpoint.url, request.body, request.headers), job);
    if (v.kind !== 'delivered') return this.notDelivered('outbound', v, log);
    this.count('outbound', 'delivered');
    return 'delivered';
  }

  private notDelivered(endpoint: string, v: Verdict, log: CallLog): never {
    if (v.kind === 'final') {
      this.count(endpoint, 'failed');
      log.error({ answer: v.last }, 'the receiver refused the event for good: not retrying');
      throw new UnrecoverableError(`the receiver answered ${v.last}`);
    }
    this.count(endpoint, v.kind === 'exhausted' ? 'failed' : 'retried');
    if (v.kind === 'exhausted') log.error({ answer: v.last }, 'event not delivered: out of attempts');
    else log.warn({ answer: v.last }, 'event not delivered: will retry');
    throw new Error(`not delivered: ${v.last}`);
  }

  private count(endpoint: string, result: string): void {
    this.deps.metrics.eventDeliveries.inc({ endpoint, result });
    // The outbound webhook's own counter, as documented before events.
    if (endpoint === 'outbound' && result !== 'expired') this.deps.metrics.outboundWebhooks.inc({ result });
  }
}
