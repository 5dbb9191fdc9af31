/**
 * The composition root: builds the clients, repositories, queues and services once from the typed
 * configuration. The web process takes its services from here, the worker its job handlers, and the
 * tests both; nothing else constructs them. No I/O happens until something is used (Redis connections
 * connect lazily, queues on their first command).
 */
import type { Queue } from 'bullmq';
import type Retell from 'retell-sdk';
import type { Twilio } from 'twilio';
import { CallRepository } from './calls/repository';
import type { Config } from './config';
import { actionFunctions, ActionRequests, AgentNotices, CallActionProcessor } from './features/actions';
import {
  createEventQueue,
  deliveryBackoff,
  eventEndpoints,
  EventDeliveries,
  EventDispatcher,
  EventStore,
  NO_EVENTS,
  RETRY_DELAYS_MS,
  StreamEventSink,
  typeFilter,
  WebhookPoster,
  type EventEndpoint,
  type EventQueue,
  type EventSink,
} from './features/events';
import { CallReports, ConsoleService } from './features/console';
import {
  CampaignRepository,
  Campaigns,
  CampaignScheduler,
  campaignOutboundHook,
  campaignStop,
  createCampaignQueue,
  scheduleTicks,
  TICK_EVERY_MS,
  type CampaignQueue,
  type DoNotCallCheck,
} from './features/campaigns';
import { DialGate, DoNotCallList, doNotCallFunction, PredialHook } from './features/dnc';
import { CallAnswerer, LookupHook } from './features/inbound';
import {
  createOutboundCallQueue,
  OutboundCallbacks,
  OutboundCalls,
  OutboundCanceler,
  OutboundPlacer,
  OutboundReconciler,
  OutboundStore,
  OUTBOUND_SWEEP_JOB,
  SWEEP_EVERY_MS,
  SWEEP_SCHEDULER_ID,
  cancelJobId,
  predialRequest,
  type OutboundCallQueue,
} from './features/outbound';
import { recordingFunctions, RecordingControlProcessor } from './features/recording';
import { sendSmsFunction, SmsRepository, SmsSender } from './features/sms';
import { WarmTransferCallbacks, WarmTransferProcessor, warmTransferFunction } from './features/warm-transfer';
import { addCallAction, createCallActionQueue, type CallActionQueue } from './jobs/queues';
import type { JobHandlers } from './jobs/worker';
import { settleWithin } from './http/timeout';
import type { Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { closeRedis, createRedis, isUnreachableError, type RedisClient } from './redis/connection';
import { createRetellClient } from './retell/client';
import type { RetellFunction } from './retell/functions';
import { createTwilioClient } from './twilio/client';

export interface ContainerOptions {
  config: Config;
  logger: Logger;
  /** @defaultValue a registry of its own */
  metrics?: Metrics;
  /** Clients to use instead of the ones built from `config` (tests: a Retell client of their own). */
  overrides?: { retell?: Retell; twilio?: Twilio };
  /** The waits between an event delivery's attempts. @defaultValue RETRY_DELAYS_MS (about a day) */
  eventRetryDelaysMs?: readonly number[];
  /**
   * What a number that texts an opt-out keyword (STOP) to one of the bridge's numbers is done with.
   * @defaultValue put on the do-not-call list with source `sms_stop`
   */
  onOptOut?: (number: string) => Promise<void>;
  /** The clock campaigns read windows, start times and retries on (tests move it). @defaultValue Date.now */
  clock?: () => number;
  /** Which numbers are on the do-not-call list (tests). @defaultValue the list's (`doNotCall.hasMany`) */
  doNotCall?: DoNotCallCheck;
  /** How often the campaign scheduler ticks. @defaultValue TICK_EVERY_MS */
  campaignTickMs?: number;
}

/** The job handlers of each queue a worker process serves, by job kind. */
export interface WorkerHandlers {
  callActions: JobHandlers;
  outboundCalls: JobHandlers;
  /** Event deliveries, with EVENTS_WEBHOOK_URL or OUTBOUND_WEBHOOK_URL. */
  events?: JobHandlers;
  /** Deliveries an earlier version queued for OUTBOUND_WEBHOOK_URL, drained by the events' delivery code. */
  outboundEvents?: JobHandlers;
  /** The campaign scheduler's tick and attempts' ends, with API_TOKEN. */
  campaigns?: JobHandlers;
}

export class Container {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Fail-fast connection for the request path (no offline queue, short command timeout). */
  readonly redis: RedisClient;
  /** The queues' producer connection. */
  readonly queueRedis: RedisClient;
  readonly retell: Retell;
  readonly twilio: Twilio;

  readonly calls: CallRepository;
  /** The agent's texts, per call. */
  readonly texts: SmsRepository;
  /** Numbers the bridge never dials. */
  readonly doNotCall: DoNotCallList;
  readonly outboundStore: OutboundStore;
  /** Where every flow records what happened (one Redis write); the worker delivers it to the endpoints. */
  readonly events: EventSink;
  /** Where events and their deliveries are kept (GET /events, redelivery, a call's events). */
  readonly eventStore: EventStore;
  /** Where events go: EVENTS_WEBHOOK_URL and OUTBOUND_WEBHOOK_URL, when set. */
  readonly eventEndpoints: readonly EventEndpoint[];
  /** `events`: the deliveries' queue, with an endpoint only. */
  readonly queues: { actions: CallActionQueue; outbound: OutboundCallQueue; events: EventQueue | undefined; campaigns: CampaignQueue; all: Queue[] };

  /** Asked before every outbound dial (PREDIAL_WEBHOOK_URL); none when unset. */
  readonly predialHook: PredialHook | undefined;
  /** Asked for the agent and variables of each new inbound call (INBOUND_WEBHOOK_URL); none when unset. */
  readonly lookupHook: LookupHook | undefined;
  readonly answerer: CallAnswerer;
  readonly actionRequests: ActionRequests;
  readonly warmTransfers: WarmTransferCallbacks;
  readonly outboundCallbacks: OutboundCallbacks;
  /** The outbound-call API; undefined while API_TOKEN is unset (the routes are then not mounted). */
  readonly outboundCalls: OutboundCalls | undefined;
  /** The one owner of campaign records. */
  readonly campaignRepository: CampaignRepository;
  /** The campaign API and the console's reads; undefined while API_TOKEN is unset. */
  readonly campaigns: Campaigns | undefined;
  /** Which numbers are on the do-not-call list. */
  readonly isDoNotCall: DoNotCallCheck;
  readonly clock: () => number;
  private readonly campaignTickMs: number;
  /** Every custom function an agent can call. */
  readonly functions: readonly RetellFunction[];
  /** A number texted an opt-out keyword to one of the bridge's numbers. */
  readonly optOut: (number: string) => Promise<void>;
  /** What the operator's console under /admin reads and does. */
  readonly console: ConsoleService;

  private readonly retryDelaysMs: readonly number[];
  private poster: WebhookPoster | undefined;

  constructor(opts: ContainerOptions) {
    const { config, logger } = opts;
    this.retryDelaysMs = opts.eventRetryDelaysMs ?? RETRY_DELAYS_MS;
    this.clock = opts.clock ?? Date.now;

    this.campaignTickMs = opts.campaignTickMs ?? TICK_EVERY_MS;
    this.config = config;
    this.logger = logger;
    this.metrics = opts.metrics ?? new Metrics();
    const metrics = this.metrics;
    const prefix = config.redis.prefix;

    this.redis = createRedis(config.redis, 'request', logger);
    this.queueRedis = createRedis(config.redis, 'queue', logger);
    this.retell = opts.overrides?.retell ?? createRetellClient(config.retell);
    this.calls = new CallRepository(this.redis, prefix);
    // Each Twilio request is logged on its call (the console's timeline), after its answer, off its path.
    const calls = this.calls;
    this.twilio =
      opts.overrides?.twilio ??
      createTwilioClient(config.twilio, metrics, ({ callSid, otherCallSid, ...entry }) => {
        if (callSid) void calls.logTwilioRequest(callSid, entry);
        // A leg placed or changed for the call (a warm transfer's person) gets it in its own log too.
        if (otherCallSid) void calls.logTwilioRequest(otherCallSid, { ...entry, ...(callSid ? { forCall: callSid } : {}) });
      });

    this.texts = new SmsRepository(this.redis, prefix);
    this.doNotCall = new DoNotCallList(this.redis, prefix);
    this.isDoNotCall = opts.doNotCall ?? ((numbers) => this.doNotCall.hasMany(numbers));
    this.eventEndpoints = eventEndpoints(config);
    this.events = this.eventSink(this.redis);
    this.eventStore = new EventStore(this.redis, prefix, config.events.retentionMs);
    this.outboundStore = new OutboundStore(this.redis, prefix);
    const actions = createCallActionQueue(this.queueRedis, prefix);
    const outbound = createOutboundCallQueue(this.queueRedis, prefix);
    const events = this.eventEndpoints.length ? createEventQueue(this.queueRedis, prefix, this.retryDelaysMs) : undefined;
    const campaigns = createCampaignQueue(this.queueRedis, prefix);
    const all: Queue[] = [actions, outbound, campaigns, ...(events ? [events] : [])];
    // Unreachable Redis is reported by the connection itself, once every 30 s.
    for (const q of all) q.on('error', (err) => isUnreachableError(err) || logger.error({ err, queue: q.name }, 'queue error'));
    this.queues = { actions, outbound, events, campaigns, all };
    this.campaignRepository = new CampaignRepository(this.redis, prefix, config.outbound.campaignRetentionMs);
    // An answered or ended attempt of a campaign: one write on the callback's path, the rest in the worker.
    const onChange = campaignOutboundHook(this.campaignRepository, campaigns);

    const { url: hookUrl, timeoutMs: hookTimeoutMs } = config.lookupHook;
    this.lookupHook = hookUrl ? new LookupHook({ url: hookUrl, apiKey: config.retell.apiKey, timeoutMs: hookTimeoutMs, metrics }) : undefined;
    const predial = config.outbound.predial;
    this.predialHook = predial.url ? new PredialHook({ url: predial.url, apiKey: config.retell.apiKey, timeoutMs: predial.timeoutMs }) : undefined;
    this.answerer = new CallAnswerer({ config, calls: this.calls, retell: this.retell, logger, metrics, lookupHook: this.lookupHook, events: this.events });
    this.actionRequests = new ActionRequests({ config, calls: this.calls, queue: actions, events: this.events, logger });
    this.warmTransfers = new WarmTransferCallbacks({ config, calls: this.calls, queue: actions, logger });
    this.outboundCallbacks = new OutboundCallbacks({
      accountSid: config.twilio.accountSid,
      store: this.outboundStore,
      answerer: this.answerer,
      calls: this.calls,
      actionQueue: actions,
      events: this.events,
      logger,
      metrics,
      onChange,
    });
    this.outboundCalls = config.outbound.apiToken
      ? new OutboundCalls({ config, store: this.outboundStore, calls: this.calls, queue: outbound, actionQueue: actions, events: this.events, doNotCall: this.doNotCall, logger, metrics, onChange })
      : undefined;
    this.campaigns = config.outbound.apiToken
      ? new Campaigns({
          config,
          repository: this.campaignRepository,
          isDoNotCall: this.isDoNotCall,
          events: this.events,
          now: this.clock,
          ...(this.outboundCalls ? { outbound: { store: this.outboundStore, calls: this.outboundCalls } } : {}),
          logger,
        })
      : undefined;
    this.functions = [
      ...actionFunctions({ config, requests: this.actionRequests }),
      warmTransferFunction({ config, requests: this.actionRequests }),
      ...recordingFunctions({ config, calls: this.calls, queue: actions, logger }),
      sendSmsFunction({ config, calls: this.calls, texts: this.texts, queue: actions, logger }),
      doNotCallFunction({ config, calls: this.calls, list: this.doNotCall, logger, metrics }),
    ];
    this.console = new ConsoleService({
      calls: this.calls,
      reports: new CallReports(this.redis, prefix, actions),
      redelivery: { store: this.eventStore, queue: events, endpoints: this.eventEndpoints, logger },
      campaigns: this.campaigns,
    });
    this.optOut =
      opts.onOptOut ??
      (async (number) => {
        const { added } = await this.doNotCall.add([number], 'sms_stop');
        if (added) metrics.doNotCallAdded.inc({ source: 'sms_stop' });
      });
  }

  /**
   * The sink on `redis`: the web's fail-fast connection (an event lost while Redis is away never holds a
   * caller), or the worker's, which waits out a reconnect. Nothing is written while no endpoint is set.
   */
  private eventSink(redis: RedisClient): EventSink {
    if (!this.eventEndpoints.length) return NO_EVENTS;
    const { config, logger, metrics } = this;
    const endpoints = this.eventEndpoints;
    return new StreamEventSink({
      redis,
      prefix: config.redis.prefix,
      wanted: (type) => endpoints.some((e) => e.wants(type)),
      logger,
      onEmitted: (type) => metrics.eventsEmitted.inc({ type }),
      onDropped: (type) => metrics.eventsDropped.inc({ type }),
    });
  }

  /**
   * The worker's dispatcher of emitted events into deliveries, reading on `redis` (a connection of its
   * own, which it blocks); none while no endpoint is set.
   */
  eventDispatcher(redis: RedisClient): EventDispatcher | undefined {
    const queue = this.queues.events;
    if (!queue) return undefined;
    const { config, logger, metrics } = this;
    return new EventDispatcher({
      redis,
      prefix: config.redis.prefix,
      store: new EventStore(this.queueRedis, config.redis.prefix, config.events.retentionMs),
      queue,
      endpoints: this.eventEndpoints,
      logger,
      metrics,
    });
  }

  /** The backoff strategy of the deliveries' worker: the waits between attempts. */
  get eventBackoff() {
    return deliveryBackoff(this.retryDelaysMs);
  }

  /** A call ended: whatever still waits on it (a person being rung for a warm transfer) is let go. */
  readonly callEnded = (callSid: string): Promise<void> => this.warmTransfers.callerGone(callSid);

  /**
   * The worker's processors, on the container's connections: each job kind's handler, per queue. Built
   * on demand, since only the worker process (or a test's worker) runs jobs.
   */
  workerHandlers(): WorkerHandlers {
    const { config, logger, metrics, twilio, retell, calls } = this;
    const { actions, outbound } = this.queues;
    // The worker's events wait out a Redis reconnect rather than being lost at once.
    const events = this.eventSink(this.queueRedis);
    const processor = new CallActionProcessor({ twilio, calls, queue: actions, events, logger, metrics });
    const warm = new WarmTransferProcessor({
      twilio,
      retell,
      calls,
      queue: actions,
      events,
      config: { publicUrl: config.publicUrl, ringTimeoutS: config.warmTransfer.ringTimeoutS, holdMessage: config.warmTransfer.holdMessage, retellTimeoutMs: config.retell.timeoutMs },
      logger,
      metrics,
    });
    const notices = new AgentNotices({ retell, timeoutMs: config.retell.timeoutMs, logger });
    const recordingControls = new RecordingControlProcessor({ twilio, calls, queue: actions, logger });
    const texts = new SmsSender({ twilio, texts: this.texts, events: this.events, queue: actions, publicUrl: config.publicUrl, logger });
    const gate = new DialGate({ list: this.doNotCall, hook: this.predialHook, logger, metrics });
    const cancels = new OutboundCanceler({ twilio, store: this.outboundStore, events, logger, metrics });
    const reconciler = this.outboundReconciler(events);
    const placer = new OutboundPlacer({
      twilio,
      retell,
      store: this.outboundStore,
      events,
      config: { publicUrl: config.publicUrl, reservedConcurrency: config.outbound.reservedConcurrency, cps: config.outbound.cps },
      // Waiting for Retell capacity holds the whole outbound queue back (BullMQ's manual rate limit).
      rateLimit: (ms) => outbound.rateLimit(ms),
      beforeDial: (record, log) => gate.check(predialRequest(record), log),
      stoppedBy: campaignStop(this.campaignRepository),
      cancel: (id, callSid) => addCallAction(actions, { kind: 'outbound_cancel', id, callSid }, cancelJobId(id)),
      logger,
      metrics,
      onChange: campaignOutboundHook(this.campaignRepository, this.queues.campaigns),
    });
    const scheduler = this.outboundCalls
      ? new CampaignScheduler({
          repository: this.campaignRepository,
          outbound: this.outboundCalls,
          outboundStore: this.outboundStore,
          calls,
          isDoNotCall: this.isDoNotCall,
          events,
          outboundBacklog: () => outbound.getWaitingCount(),
          lookAtCall: (id) => reconciler.look(id),
          cps: config.outbound.cps,
          now: this.clock,
          logger,
          metrics,
        })
      : undefined;
    const warmStep = (job: Parameters<WarmTransferProcessor['process']>[0]) => warm.process(job);
    this.poster ??= this.eventEndpoints.length ? new WebhookPoster() : undefined;
    const deliveries = this.poster
      ? new EventDeliveries({ store: new EventStore(this.queueRedis, config.redis.prefix, config.events.retentionMs), endpoints: this.eventEndpoints, poster: this.poster, logger, metrics })
      : undefined;
    const outboundWebhook = deliveries && this.eventEndpoints.some((e) => e.name === 'outbound');
    return {
      // The kinds are the jobs' names, kept across versions: a deployment's queued jobs go on working.
      callActions: {
        transfer: (job) => processor.process(job as never),
        end_call: (job) => processor.process(job as never),
        warm_transfer: (job) => warmStep(job as never),
        warm_transfer_join: (job) => warmStep(job as never),
        warm_transfer_outcome: (job) => warmStep(job as never),
        agent_notice: (job) => notices.process(job as never),
        outbound_cancel: (job) => cancels.process(job as never),
        pause_recording: (job) => recordingControls.process(job as never),
        resume_recording: (job) => recordingControls.process(job as never),
        send_sms: (job) => texts.process(job as never),
      },
      outboundCalls: { place: (job) => placer.process(job as never) },
      ...(deliveries ? { events: { deliver: (job) => deliveries.process(job as never) } } : {}),
      ...(deliveries && outboundWebhook ? { outboundEvents: { event: (job) => deliveries.processLegacy(job as never) } } : {}),
      // The queue of the worker's periodic work on outbound calls: the campaign tick, attempts' ends, and
      // the sweep of calls whose final status is overdue (outbound calls exist exactly when campaigns do).
      ...(scheduler
        ? { campaigns: { tick: () => scheduler.tick(), ended: (job) => scheduler.attemptEnded(job.data as never), [OUTBOUND_SWEEP_JOB]: () => reconciler.sweep() } }
        : {}),
    };
  }

  /**
   * Looks at outbound calls at Twilio when their final status callback is overdue, ending them as the
   * callback would have (the worker's sweep, and campaigns' looks at attempts nothing was heard of).
   */
  outboundReconciler(events: EventSink = this.events): OutboundReconciler {
    const { twilio, logger, metrics, config } = this;
    const callbacks = new OutboundCallbacks({
      accountSid: config.twilio.accountSid,
      store: this.outboundStore,
      answerer: this.answerer,
      calls: this.calls,
      actionQueue: this.queues.actions,
      events,
      logger,
      metrics,
      onChange: campaignOutboundHook(this.campaignRepository, this.queues.campaigns),
    });
    return new OutboundReconciler({ twilio, store: this.outboundStore, callbacks, onCallEnded: this.callEnded, logger, metrics });
  }

  /** Keeps the campaign scheduler's tick scheduled (every worker calls it; there stays one). */
  scheduleCampaignTicks(): Promise<void> {
    return scheduleTicks(this.queues.campaigns, this.campaignTickMs);
  }

  /** Keeps the sweep of outbound calls whose final status is overdue scheduled (every worker calls it; there stays one). */
  async scheduleOutboundSweep(everyMs = SWEEP_EVERY_MS): Promise<void> {
    await this.queues.campaigns.upsertJobScheduler(SWEEP_SCHEDULER_ID, { every: everyMs }, {
      name: OUTBOUND_SWEEP_JOB,
      data: {},
      opts: { removeOnComplete: true, removeOnFail: { count: 100 }, attempts: 1 },
    });
  }

  /** Closes the queues and connections (waits at most a few seconds when Redis is gone). */
  async close(): Promise<void> {
    // BullMQ's close waits on Redis; with Redis gone it would never return.
    if (this.queueRedis.status === 'ready') await settleWithin(Promise.all(this.queues.all.map((q) => q.close())), 2000);
    if (this.lookupHook) await settleWithin(this.lookupHook.close(), 1000);
    if (this.predialHook) await settleWithin(this.predialHook.close(), 1000);
    if (this.poster) await settleWithin(this.poster.close(), 1000);
    await Promise.all([this.redis, this.queueRedis].map(closeRedis));
  }
}
