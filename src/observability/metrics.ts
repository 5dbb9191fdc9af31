import type { RedisClient } from '../redis/connection';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the queue-depth gauge needs from a BullMQ queue. */
export interface CountableQueue {
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/** Seconds, for hooks the user runs (lookup, pre-dial): their timeouts are a few seconds at most. */
const HOOK_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5, 8];

/**
 * The results `bridge_campaign_dials_total` starts with (at 0), so the counter is scraped, and the alerts over it
 * work, before a campaign's first dial: `placed` (the call went to the outbound placer), `refused` (the pre-dial
 * hook said no, or did not answer), `skipped_dnc` (on the do-not-call list), `failed` (could not be queued).
 */
export const CAMPAIGN_DIAL_RESULTS = ['placed', 'refused', 'skipped_dnc', 'failed'] as const;

/**
 * The bridge's Prometheus metrics. One registry per process (not prom-client's global one), so each
 * app built in a test has its own numbers.
 */
export class Metrics {
  readonly prometheus = new Registry();

  readonly webhookDuration = this.histogram(
    'bridge_webhook_duration_seconds',
    'Time to answer a webhook from Twilio or Retell, by route and HTTP status code',
    ['route', 'code'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
  );

  readonly retellRegistrationDuration = this.histogram(
    'bridge_retell_registration_duration_seconds',
    'Time Retell took to answer Register Phone Call, by result (ok, or the failure reason)',
    ['result'],
    [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8],
  );

  readonly twilioRequestDuration = this.histogram(
    'bridge_twilio_request_duration_seconds',
    'Time the Twilio REST API took to answer, by resource, method and HTTP status code (error: no answer)',
    ['resource', 'method', 'code'],
    [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8],
  );

  readonly voiceAnswers = this.counter('bridge_voice_answers_total', 'Voice webhooks answered, by outcome (registered, duplicate, registered_unguarded, fallback)', ['outcome']);

  readonly registrations = this.counter('bridge_retell_registrations_total', 'Register Phone Call requests to Retell, by result', ['result']);

  readonly fallbacks = this.counter('bridge_fallbacks_total', 'Calls answered with the fallback TwiML, by reason', ['reason']);

  readonly lookupHook = this.counter('bridge_inbound_webhook_total', 'Lookup hook (INBOUND_WEBHOOK_URL) requests, by result (ok, rejected, timeout, unreachable, http_error, invalid, too_large, skipped)', ['result']);

  readonly lookupHookDuration = this.histogram(
    'bridge_inbound_webhook_duration_seconds',
    'Time the lookup hook took to answer (or to fail), by result',
    ['result'],
    HOOK_BUCKETS,
  );

  readonly signatureRefusals = this.counter('bridge_signature_refusals_total', 'Requests refused for a missing or invalid signature, by source (twilio, retell)', ['source']);

  readonly functionCalls = this.counter('bridge_function_calls_total', 'Retell custom function calls, by function name and outcome', ['name', 'outcome']);

  readonly jobs = this.counter('bridge_jobs_total', 'Jobs finished by the worker, by job name and result (completed, failed, retried)', ['name', 'result']);

  readonly outboundRequests = this.counter('bridge_outbound_requests_total', 'POST /calls requests, by outcome (queued, repeat, invalid, not_allowed, key_reused, unavailable)', ['outcome']);

  readonly outboundPlacements = this.counter('bridge_outbound_placements_total', 'Outbound placement steps in the worker, by result (placed, adopted, retried, refused, waiting, paced, held)', ['result']);

  readonly outboundOutcomes = this.counter('bridge_outbound_outcomes_total', 'Outbound calls ended, by outcome (completed, dial_busy, dial_no_answer, dial_failed, voicemail_hangup, voicemail_message_left, canceled, do_not_call, predial_refused)', ['outcome']);

  readonly outboundReconciled = this.counter('bridge_outbound_reconciled_total', 'Outbound calls ended from Twilio\'s record because their final status callback never arrived, by Twilio status', ['twilio_status']);

  readonly outboundWebhooks = this.counter('bridge_outbound_webhooks_total', 'Deliveries to OUTBOUND_WEBHOOK_URL, by result (delivered, retried, failed)', ['result']);

  readonly eventsEmitted = this.counter('bridge_events_emitted_total', 'Events recorded for delivery (one Redis write each), by type', ['type']);

  readonly eventsDropped = this.counter('bridge_events_dropped_total', 'Events lost because Redis could not take them, by type', ['type']);

  readonly eventDeliveries = this.counter('bridge_event_deliveries_total', 'Event delivery attempts, by endpoint (events, outbound) and result (delivered, retried, failed, expired)', ['endpoint', 'result']);

  readonly warmTransfers = this.counter('bridge_warm_transfers_total', 'Warm transfers finished, by result (accepted, or why not: no_answer, busy, failed, hung_up, declined, no_response, voicemail, caller_hung_up, canceled)', ['result']);

  readonly referRequests = this.counter('bridge_refer_requests_total', 'SIP REFERs Twilio asked about (referUrl), by result (transferred, refused)', ['result']);

  readonly campaignTasksDue = this.gauge('bridge_campaign_tasks_due', 'Campaign tasks due now, inside their calling window, across running campaigns (waiting for a dial)');

  readonly campaignDials = this.counter('bridge_campaign_dials_total', 'Campaign dial attempts, by result (placed, refused, skipped_dnc, failed)', ['result']);

  readonly campaignDeferred = this.counter('bridge_campaign_deferred_total', 'Campaign tasks claimed and given back without a dial, by reason (outside_window: its window closed; paused; canceled)', ['reason']);

  readonly campaignAttempts = this.counter('bridge_campaign_attempts_total', 'Campaign attempts ended, by outbound outcome and what followed (retry, final)', ['outcome', 'next']);

  readonly campaignTasksCompleted = this.counter('bridge_campaign_tasks_completed_total', 'Campaign tasks that reached their final outcome, by outcome', ['outcome']);

  readonly doNotCallAdded = this.counter('bridge_dnc_added_total', 'Numbers put on the do-not-call list, by source (api, sms_stop, agent, ...)', ['source']);

  readonly dialRefusals = this.counter(
    'bridge_dial_refusals_total',
    'Outbound dials refused, by stage (request: POST /calls, predial: just before dialing) and reason (do_not_call, predial_denied, predial_timeout, predial_unreachable, predial_http_error, predial_invalid, predial_too_large)',
    ['stage', 'reason'],
  );

  readonly predialHookDuration = this.histogram(
    'bridge_predial_webhook_duration_seconds',
    'Time the pre-dial hook (PREDIAL_WEBHOOK_URL) took to answer (or to fail), by result (allow, deny, timeout, unreachable, http_error, invalid, too_large)',
    ['result'],
    HOOK_BUCKETS,
  );

  readonly redisUp = this.gauge('bridge_redis_up', '1 when the process is connected to Redis, else 0');

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // prom-client's process and Node.js metrics under their usual names, so stock Node dashboards work.
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.prometheus });
    // Series at 0 from the start: a rate over them is 0, not "no data", before a campaign's first dial.
    for (const result of CAMPAIGN_DIAL_RESULTS) this.campaignDials.inc({ result }, 0);
  }

  /** A counter in this process's registry. */
  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.prometheus] });
  }

  /** A histogram in this process's registry. */
  private histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.prometheus] });
  }

  /** A gauge without labels in this process's registry. */
  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.prometheus] });
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
    this.scrapedGauge(
      'bridge_events_backlog',
      'Events not yet delivered, by stage (stream: not yet dispatched; waiting, delayed: deliveries queued or waiting to be retried)',
      'stage',
      async () => Object.entries(await read()),
    );
  }

  /** Adds `bridge_queue_jobs{state}`, read from Redis at scrape time (so it covers every worker). */
  trackQueue(queue: CountableQueue): void {
    this.scrapedGauge('bridge_queue_jobs', 'Jobs in the call-action queue, by state', 'state', async () => {
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      return QUEUE_STATES.map((state) => [state, counts[state] ?? 0]);
    });
  }

  /**
   * A gauge with one label, set from `read` at each scrape. When Redis is down, bridge_redis_up says so:
   * stale values are dropped rather than reported.
   */
  private scrapedGauge<L extends string>(name: string, help: string, label: L, read: () => Promise<Array<[string, number]>>): void {
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [this.prometheus],
      async collect() {
        try {
          for (const [value, n] of await read()) this.set({ [label]: value } as Partial<Record<L, string>>, n);
        } catch {
          this.reset();
        }
      },
    });
  }
}
