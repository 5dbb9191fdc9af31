import type { RedisClient } from '../redis/connection';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the queue-depth gauge needs from a BullMQ queue. */
export interface CountableQueue {
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/**
 * The bridge's Prometheus metrics. One registry per process (not prom-client's global one), so each
 * app built in a test has its own numbers.
 */
export class Metrics {
  readonly prometheus = new Registry();

  readonly webhookDuration = new Histogram({
    name: 'bridge_webhook_duration_seconds',
    help: 'Time to answer a webhook from Twilio or Retell, by route and HTTP status code',
    labelNames: ['route', 'code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers: [this.prometheus],
  });

  readonly retellRegistrationDuration = new Histogram({
    name: 'bridge_retell_registration_duration_seconds',
    help: 'Time Retell took to answer Register Phone Call, by result (ok, or the failure reason)',
    labelNames: ['result'] as const,
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8],
    registers: [this.prometheus],
  });

  readonly twilioRequestDuration = new Histogram({
    name: 'bridge_twilio_request_duration_seconds',
    help: 'Time the Twilio REST API took to answer, by resource, method and HTTP status code (error: no answer)',
    labelNames: ['resource', 'method', 'code'] as const,
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8],
    registers: [this.prometheus],
  });

  readonly voiceAnswers = new Counter({
    name: 'bridge_voice_answers_total',
    help: 'Voice webhooks answered, by outcome (registered, duplicate, registered_unguarded, fallback)',
    labelNames: ['outcome'] as const,
    registers: [this.prometheus],
  });

  readonly registrations = new Counter({
    name: 'bridge_retell_registrations_total',
    help: 'Register Phone Call requests to Retell, by result',
    labelNames: ['result'] as const,
    registers: [this.prometheus],
  });

  readonly fallbacks = new Counter({
    name: 'bridge_fallbacks_total',
    help: 'Calls answered with the fallback TwiML, by reason',
    labelNames: ['reason'] as const,
    registers: [this.prometheus],
  });

  readonly lookupHook = new Counter({
    name: 'bridge_inbound_webhook_total',
    help: 'Lookup hook (INBOUND_WEBHOOK_URL) requests, by result (ok, rejected, timeout, unreachable, http_error, invalid, too_large, skipped)',
    labelNames: ['result'] as const,
    registers: [this.prometheus],
  });

  readonly lookupHookDuration = new Histogram({
    name: 'bridge_inbound_webhook_duration_seconds',
    help: 'Time the lookup hook took to answer (or to fail), by result',
    labelNames: ['result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5, 8],
    registers: [this.prometheus],
  });

  readonly signatureRefusals = new Counter({
    name: 'bridge_signature_refusals_total',
    help: 'Requests refused for a missing or invalid signature, by source (twilio, retell)',
    labelNames: ['source'] as const,
    registers: [this.prometheus],
  });

  readonly functionCalls = new Counter({
    name: 'bridge_function_calls_total',
    help: 'Retell custom function calls, by function name and outcome',
    labelNames: ['name', 'outcome'] as const,
    registers: [this.prometheus],
  });

  readonly jobs = new Counter({
    name: 'bridge_jobs_total',
    help: 'Jobs finished by the worker, by job name and result (completed, failed, retried)',
    labelNames: ['name', 'result'] as const,
    registers: [this.prometheus],
  });

  readonly outboundRequests = new Counter({
    name: 'bridge_outbound_requests_total',
    help: 'POST /calls requests, by outcome (queued, repeat, invalid, not_allowed, key_reused, unavailable)',
    labelNames: ['outcome'] as const,
    registers: [this.prometheus],
  });

  readonly outboundPlacements = new Counter({
    name: 'bridge_outbound_placements_total',
    help: 'Outbound placement steps in the worker, by result (placed, adopted, retried, refused, waiting)',
    labelNames: ['result'] as const,
    registers: [this.prometheus],
  });

  readonly outboundOutcomes = new Counter({
    name: 'bridge_outbound_outcomes_total',
    help: 'Outbound calls ended, by outcome (completed, dial_busy, dial_no_answer, dial_failed, voicemail_hangup, voicemail_message_left, canceled)',
    labelNames: ['outcome'] as const,
    registers: [this.prometheus],
  });

  readonly outboundWebhooks = new Counter({
    name: 'bridge_outbound_webhooks_total',
    help: 'Deliveries to OUTBOUND_WEBHOOK_URL, by result (delivered, retried, failed)',
    labelNames: ['result'] as const,
    registers: [this.prometheus],
  });

  readonly eventsEmitted = new Counter({
    name: 'bridge_events_emitted_total',
    help: 'Events recorded for delivery (one Redis write each), by type',
    labelNames: ['type'] as const,
    registers: [this.prometheus],
  });

  readonly eventsDropped = new Counter({
    name: 'bridge_events_dropped_total',
    help: 'Events lost because Redis could not take them, by type',
    labelNames: ['type'] as const,
    registers: [this.prometheus],
  });

  readonly eventDeliveries = new Counter({
    name: 'bridge_event_deliveries_total',
    help: 'Event delivery attempts, by endpoint (events, outbound) and result (delivered, retried, failed, expired)',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.prometheus],
  });

  readonly warmTransfers = new Counter({
    name: 'bridge_warm_transfers_total',
    help: 'Warm transfers finished, by result (accepted, or why not: no_answer, busy, failed, hung_up, declined, no_response, voicemail, caller_hung_up, canceled)',
    labelNames: ['result'] as const,
    registers: [this.prometheus],
  });

  readonly referRequests = new Counter({
    name: 'bridge_refer_requests_total',
    help: 'SIP REFERs Twilio asked about (referUrl), by result (transferred, refused)',
    labelNames: ['result'] as const,
    registers: [this.prometheus],
  });

  readonly campaignTasksDue = new Gauge({
    name: 'bridge_campaign_tasks_due',
    help: 'Campaign tasks due now (their window open) across running campaigns, as of the scheduler\'s last tick',
    registers: [this.prometheus],
  });

  readonly campaignDials = new Counter({
    name: 'bridge_campaign_dials_total',
    help: 'Campaign dial steps, by result (placed, skipped_dnc, refused, outside_window, paused, canceled, unavailable, error)',
    labelNames: ['result'] as const,
    registers: [this.prometheus],
  });

  readonly campaignAttempts = new Counter({
    name: 'bridge_campaign_attempts_total',
    help: 'Campaign attempts ended, by outbound outcome and what followed (retry, final)',
    labelNames: ['outcome', 'next'] as const,
    registers: [this.prometheus],
  });

  readonly campaignTasksCompleted = new Counter({
    name: 'bridge_campaign_tasks_completed_total',
    help: 'Campaign tasks that reached their final outcome, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.prometheus],
  });

  readonly redisUp = new Gauge({
    name: 'bridge_redis_up',
    help: '1 when the process is connected to Redis, else 0',
    registers: [this.prometheus],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // prom-client's process and Node.js metrics under their usual names, so stock Node dashboards work.
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.prometheus });
  }

  /** Keeps `bridge_redis_up` in step with a connection. */
  watchRedis(redis: RedisClient): void {
    this.redisUp.set(redis.status === 'ready' ? 1 : 0);
    redis.on('ready', () => this.redisUp.set(1));
    redis.on('close', () => this.redisUp.set(0));
  }

  /**
   * Adds `bridge_events_backlog{stage}`, read at scrape time: events emitted and not yet dispatched
   * (`stream`), and deliveries waiting to run (`waiting`) or to be retried (`delayed`).
   */
  trackEventBacklog(read: () => Promise<Record<'stream' | 'waiting' | 'delayed', number>>): void {
    new Gauge({
      name: 'bridge_events_backlog',
      help: 'Events not yet delivered, by stage (stream: not yet dispatched; waiting, delayed: deliveries queued or waiting to be retried)',
      labelNames: ['stage'] as const,
      registers: [this.prometheus],
      async collect() {
        try {
          const counts = await read();
          for (const [stage, n] of Object.entries(counts)) this.set({ stage }, n);
        } catch {
          this.reset();
        }
      },
    });
  }

  /** Adds `bridge_queue_jobs{state}`, read from Redis at scrape time (so it covers every worker). */
  trackQueue(queue: CountableQueue): void {
    new Gauge({
      name: 'bridge_queue_jobs',
      help: 'Jobs in the call-action queue, by state',
      labelNames: ['state'] as const,
      registers: [this.prometheus],
      async collect() {
        try {
          const counts = await queue.getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
        } catch {
          // Redis is down: bridge_redis_up says so; stale depths are dropped rather than reported.
          this.reset();
        }
      },
    });
  }
}
