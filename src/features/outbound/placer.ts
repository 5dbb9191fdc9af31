import { DelayedError, RateLimitError, UnrecoverableError, type Job } from 'bullmq';
import type Retell from 'retell-sdk';
import type { Twilio } from 'twilio';
import type { OutboundChangeHook, OutboundOutcome, OutboundRecord } from './record';
import type { OutboundStore } from './repository';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { getRetellConcurrency } from '../../retell/concurrency';
import { twilioErrorDetail } from '../../twilio/errors';
import { findCallsCreatedSince } from '../../twilio/calls';
import { placeCall } from './twilio';
import { nextLook } from './reconcile';
import { attemptOf, runEffect } from '../../jobs/effect';
import type { PlaceCallJob } from './jobs';
import { emitOutboundStatus } from './events';
import type { EventSink } from '../events';

export interface OutboundPlacerDeps {
  twilio: Twilio;
  retell: Retell;
  store: OutboundStore;
  /** Where status changes go for OUTBOUND_WEBHOOK_URL; undefined when it is not set. */
  events: EventSink;
  config: {
    publicUrl: string;
    /** Retell calls kept free for inbound (OUTBOUND_RESERVED_CONCURRENCY). */
    reservedConcurrency: number;
    /** TWILIO_CPS. */
    cps: number;
  };
  /** Holds the whole outbound queue back for `ms` (BullMQ's manual rate limit, shared by every worker). */
  rateLimit(ms: number): Promise<void>;
  /**
   * Asked just before each dial (not before a retry that must first look for the call an unanswered
   * attempt may have placed): the do-not-call list and the pre-dial hook. @defaultValue every dial allowed
   */
  beforeDial?: (record: OutboundRecord, log: Logger) => Promise<DialCheck>;
  /**
   * Whether a call's campaign stopped it: a paused campaign's queued attempt waits in the queue (no
   * attempt spent) until it is resumed, a canceled campaign's is canceled. @defaultValue never stopped
   */
  stoppedBy?: (record: OutboundRecord) => Promise<'paused' | 'canceled' | undefined>;
  /** Queues the cancel of outbound call `id`, now at Twilio as `callSid` (a DELETE that came while it was being placed). */
  cancel(id: string, callSid: string): Promise<void>;
  logger: Logger;
  metrics: Metrics;
  /** Told when a call ended without being placed (refused, canceled). @defaultValue none */
  onChange?: OutboundChangeHook;
}

export type PlaceResult = 'placed' | 'adopted' | 'already_placed' | 'canceled' | 'expired' | 'refused';

/** Whether a call may be dialed now; when not, the outcome it ends with, a code (its `error.code`) and why. */
export type DialCheck = { allow: true } | { allow: false; outcome: Extract<OutboundOutcome, 'do_not_call' | 'predial_refused'>; code: string; reason: string };

/** How long a paused campaign's queued attempt waits before it is looked at again. */
export const PAUSED_HOLD_MS = 5000;
/** How long the queue waits before asking Retell again when it has no room for another call. */
export const CAPACITY_WAIT_MS = 2000;
const RETELL_CONCURRENCY_TIMEOUT_MS = 3000;
/** A ringing call holds its Retell slot for its ring time plus this, in case its callbacks never come. */
const SLOT_MARGIN_MS = 60_000;

/**
 * The guard's span: TWILIO_CPS requests at most within any SEND_WINDOW_MS, on Redis's clock. A second plus
 * 1 %, for the requests' way from the worker to Twilio taking a little longer for one than for another.
 */
export const SEND_WINDOW_MS = 1010;
/**
 * Turns come TWILIO_CPS per PACE_PERIOD_MS: a little wider than the guard's span, so a request that went
 * late (and made the guard hold the ones a second after it) is caught up with, rather than each later
 * request asking the guard twice. 1.5 % below TWILIO_CPS at most.
 */
export const PACE_PERIOD_MS = 1015;
/** An admission answered later than this after it was asked for is taken back and asked for again. */
export const FRESH_ADMISSION_MS = (SEND_WINDOW_MS - 1000) / 2;
/** How far ahead turns may be booked before a job goes back to the queue instead of taking one. */
export const TURNS_AHEAD_MS = 1000;

/**
 * The placement worker's concurrency: WORKER_CONCURRENCY for the work, plus the jobs that may be waiting
 * for their turn (up to TURNS_AHEAD_MS of turns booked, and the limiter's next second), so that sleeping
 * jobs never hold the rate below TWILIO_CPS.
 */
export function placementConcurrency(workerConcurrency: number, cps: number): number {
  return workerConcurrency + Math.ceil(((TURNS_AHEAD_MS + PACE_PERIOD_MS) / 1000) * cps);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Places one outbound call with Twilio, once, through the exactly-once runner.
 *
 * Twilio's `calls.create` takes no idempotency key, so a request whose answer never came (a timeout, a
 * 5xx, a worker killed mid-request) may or may not have created the call. The outbound record carries
 * the placement's uncertain mark from just before the request; an attempt that finds it first looks for
 * a call to the same number from the same number created since placing began that no other record has
 * linked, and adopts it instead of placing a second one. The call's own status callbacks, which carry the
 * record's id, link it as well.
 */
export class OutboundPlacer {
  /** The latest admission this process asked for (they are asked for one at a time), and when it was admitted. */
  private admitting: Promise<void> = Promise.resolve();
  private admittedAt = -Infinity;

  constructor(private readonly deps: OutboundPlacerDeps) {
    // twilio-node builds its Calls resource on first use (about 100 ms, more on a busy machine): built
    // now, so that the first placement's request does not leave that long after the guard admitted it.
    void deps.twilio.calls;
  }

  async process(job: Job<PlaceCallJob>): Promise<PlaceResult> {
    const { store, events } = this.deps;
    const id = job.data.id;
    const log = this.deps.logger.child({ jobId: job.id, outboundId: id, attempt: job.attemptsMade + 1 });

    const record = await store.get(id);
    if (!record) {
      log.warn('outbound call record expired before it could be placed: dropping');
      return 'expired';
    }
    if (record.status === 'ended') {
      log.info({ outcome: record.outcome }, 'outbound call ended before placement (canceled): skipping');
      return 'canceled';
    }
    if (record.callSid) return 'already_placed';
    const stopped = await this.stoppedByCampaign(job, record, log);
    if (stopped === 'held') throw new DelayedError();
    if (stopped === 'canceled') return this.canceledBeforePlacement(record, log);

    await this.waitForRoomInTurns();
    await this.waitForCapacity(record, log);

    const check = await this.checkBeforeDial(record, log);
    if (!check.allow) return this.refused(record, check, log);

    const begun = await store.beginPlacement(id);
    if (begun.kind === 'ended' || begun.kind === 'unknown' || begun.kind === 'placed') {
      if (begun.kind !== 'placed') await store.releaseSlot(id);
      return begun.kind === 'placed' ? 'already_placed' : begun.kind === 'ended' ? 'canceled' : 'expired';
    }
    // From here a call may exist at Twilio: it is watched until it is known to be over, in case its
    // final status callback never comes.
    await store.lookAt(id, nextLook(record, Date.now()));
    if (begun.kind === 'first') {
      await emitOutboundStatus(events, { ...record, status: 'dialing', dialingAt: new Date().toISOString() }, 'dialing');
    }

    const outcome = await runEffect<string>(
      {
        ledger: store.placementLedger(id),
        send: async () => {
          const token = await this.waitForTurn();
          const placed = await placeCall(this.deps.twilio, this.deps.config.publicUrl, {
            id,
            to: record.to,
            from: record.from,
            ringTimeoutS: Number(record.ringTimeoutS),
            machineDetection: record.voicemail === 'message' ? 'DetectMessageEnd' : 'Enable',
            onSent: () => this.sent(token, log),
          });
          return placed.sid;
        },
        look: async (since) => {
          // Calls to the same number from the same number may belong to other requests (a campaign's
          // earlier attempt): only one no other record has linked can be this attempt's.
          const found = await findCallsCreatedSince(this.deps.twilio, { to: record.to, from: record.from, since });
          const owners = await Promise.all(found.map((c) => store.idForCallSid(c.sid)));
          const ours = found.filter((_, i) => owners[i] === null || owners[i] === id).map((c) => c.sid);
          return ours.length ? { found: 'performed', value: ours.join(',') } : { found: 'not_performed' };
        },
      },
      attemptOf(job),
    );

    switch (outcome.kind) {
      case 'sent':
        await this.linked(record, outcome.value, log);
        this.deps.metrics.outboundPlacements.inc({ result: 'placed' });
        log.info({ callSid: outcome.value, to: record.to, from: record.from }, 'outbound call placed');
        return 'placed';
      case 'found':
        if (await this.adopt(record, (outcome.value ?? '').split(',').filter(Boolean), log)) return 'adopted';
        return this.placedElsewhere(record, log);
      case 'done_before':
        return 'already_placed';
      case 'superseded':
      case 'failed_before':
      case 'gone':
        return this.notPlaced(id, log);
      case 'failed':
        return this.failed(record, outcome.reason, outcome.cause, log);
    }
  }

  /** The runner would not send: the call ended, was linked meanwhile, or a cancel came before it was placed. */
  private async notPlaced(id: string, log: Logger): Promise<PlaceResult> {
    const now = await this.deps.store.get(id);
    if (!now) return 'expired';
    if (now.callSid) return 'already_placed';
    if (now.status === 'ended') return 'canceled';
    return this.canceledBeforePlacement(now, log);
  }

  /**
   * A paused campaign's attempt goes back to the delayed set (`held`); a canceled campaign's is not
   * dialed. Neither when an earlier attempt's request may have placed the call: that one is looked for
   * first, as a dial already begun.
   */
  private async stoppedByCampaign(job: Job<PlaceCallJob>, record: OutboundRecord, log: Logger): Promise<'held' | 'canceled' | undefined> {
    const by = await this.deps.stoppedBy?.(record);
    if (!by) return undefined;
    const state = await this.deps.store.placementLedger(record.id).read();
    if (state === 'superseded' || state.uncertain || state.status !== 'queued') return undefined;
    if (by === 'canceled') return 'canceled';
    await job.moveToDelayed(Date.now() + PAUSED_HOLD_MS, job.token);
    this.deps.metrics.outboundPlacements.inc({ result: 'held' });
    log.info('outbound call held: its campaign is paused');
    return 'held';
  }

  /**
   * The list and the hook, unless an earlier attempt's request may have placed the call: then the runner
   * looks for that call first, and the earlier attempt was checked. A Redis failure throws (retried).
   */
  private async checkBeforeDial(record: OutboundRecord, log: Logger): Promise<DialCheck> {
    if (!this.deps.beforeDial) return { allow: true };
    const state = await this.deps.store.placementLedger(record.id).read();
    if (state === 'superseded' || state.uncertain || state.status !== 'queued') return { allow: true };
    try {
      return await this.deps.beforeDial(record, log);
    } catch (err) {
      await this.deps.store.releaseSlot(record.id);
      throw err;
    }
  }

  /** Not dialed: the number is on the do-not-call list, or the pre-dial hook did not allow it. */
  private async refused(record: OutboundRecord, check: Extract<DialCheck, { allow: false }>, log: Logger): Promise<PlaceResult> {
    const { store, events, metrics } = this.deps;
    const now = new Date().toISOString();
    // `once`: a cancel that came meanwhile keeps its outcome.
    const moved = await store.advance(record.id, 'ended', { outcome: check.outcome, endedAt: now, errorCode: check.code, errorMessage: check.reason });
    await store.releaseSlot(record.id);
    // Not moved: it ended meanwhile (a DELETE), which counted and told it.
    if (moved !== 'moved') return moved === 'unknown' ? 'expired' : 'canceled';
    const ended = await store.get(record.id);
    if (ended) await emitOutboundStatus(events, ended, 'ended');
    if (ended) await this.changed(ended, log);
    metrics.outboundOutcomes.inc({ outcome: ended?.outcome ?? check.outcome });
    log.info({ outcome: check.outcome, code: check.code, reason: check.reason, to: record.to }, 'outbound call not dialed');
    return 'refused';
  }

  /** Calls an earlier attempt created were found but none could be linked to this record. */
  private async placedElsewhere(record: OutboundRecord, log: Logger): Promise<PlaceResult> {
    const now = await this.deps.store.get(record.id);
    if (now?.callSid) return 'already_placed';
    log.error('calls found at Twilio could not be linked to this outbound request');
    return this.failed(record, 'calls found at Twilio belong to other requests', undefined, log);
  }

  /**
   * Waits (without spending an attempt) while Retell has no room for another call beside the reserve
   * for inbound calls, counting the outbound calls still ringing, which Retell does not count yet.
   */
  private async waitForCapacity(record: OutboundRecord, log: Logger): Promise<void> {
    let room = false;
    try {
      const { current, limit } = await getRetellConcurrency(this.deps.retell, RETELL_CONCURRENCY_TIMEOUT_MS);
      const allowed = limit - this.deps.config.reservedConcurrency;
      const until = Date.now() + Number(record.ringTimeoutS) * 1000 + SLOT_MARGIN_MS;
      room = await this.deps.store.reserveSlot(record.id, until, current, allowed);
      if (!room) log.info({ current, limit, reserved: this.deps.config.reservedConcurrency }, 'retell at capacity: outbound calls wait');
    } catch (err) {
      // A callee who answers while Retell cannot take the call hears only the fallback: better to wait.
      log.error({ err: (err as Error).message }, 'retell concurrency unknown: outbound calls wait');
    }
    if (room) return;
    this.deps.metrics.outboundPlacements.inc({ result: 'waiting' });
    await this.deps.rateLimit(CAPACITY_WAIT_MS);
    throw new RateLimitError();
  }

  /**
   * The queue's limiter lets TWILIO_CPS jobs start each second, all at its beginning; their requests
   * would then reach Twilio in bursts. Each request instead waits for its turn, spaced PACE_PERIOD_MS /
   * TWILIO_CPS after the previous one from any worker, then asks the guard: a turn only says when to
   * wake, and a job whose timer fired late (a busy event loop, a slow round trip) would bunch with the
   * next ones. The guard admits the request only while fewer than TWILIO_CPS were sent within the last
   * SEND_WINDOW_MS, on Redis's clock (each counted from its admission until it is written, then from
   * then), and otherwise says how long to wait before asking again. Returns the admission's token.
   */
  private async waitForTurn(): Promise<string> {
    const { cps } = this.deps.config;
    const turnMs = await this.deps.store.placementTurn(PACE_PERIOD_MS / cps);
    if (turnMs > 0) await sleep(turnMs);
    // Jobs whose timers fired together (after the event loop was held up) ask one after another, at
    // least a quarter of a turn apart: sent together, the last would reach Twilio well after the first.
    const previous = this.admitting;
    let done!: () => void;
    this.admitting = new Promise<void>((resolve) => (done = resolve));
    try {
      await previous;
      const gap = this.admittedAt + PACE_PERIOD_MS / cps / 4 - performance.now();
      if (gap > 0) await sleep(gap);
      const token = await this.admit(cps);
      this.admittedAt = performance.now();
      return token;
    } finally {
      done();
    }
  }

  /** Asks the guard until it admits this request; returns the admission's token. */
  private async admit(cps: number): Promise<string> {
    let replacing: string | undefined;
    let restamps = 0;
    for (;;) {
      const asked = performance.now();
      const admission = await this.deps.store.admitSend(cps, SEND_WINDOW_MS, replacing);
      if (!admission.admitted) {
        replacing = undefined;
        this.deps.metrics.outboundPlacements.inc({ result: 'paced' });
        await sleep(Math.ceil(admission.waitMs));
        continue;
      }
      // An answer that took long (a busy event loop here, mostly) may have been admitted well before the
      // request can go: it is admitted again, once or twice, so the window is checked when it can go.
      if (performance.now() - asked <= FRESH_ADMISSION_MS || restamps >= 2) return admission.token;
      replacing = admission.token;
      restamps += 1;
    }
  }

  /**
   * The admitted request was written: the guard counts it from now, since it may have waited for a
   * connection or the event loop after its admission. The request does not wait for it; if it cannot be
   * recorded, the guard keeps the admission's time, and the next request may go a little early.
   */
  private sent(token: string, log: Logger): void {
    this.deps.store.sent(token, SEND_WINDOW_MS).catch((err: Error) => log.warn({ err: err.message }, 'could not record when the placement was sent'));
  }

  /**
   * Turns are booked at most TURNS_AHEAD_MS ahead (and a job takes one only after its checks, so the
   * limiter's burst books up to another second's worth): a job that would wait longer goes back to the
   * queue, where it can be seen and canceled, and holds the queue back until turns free up, instead of
   * sleeping in a worker's slot.
   */
  private async waitForRoomInTurns(): Promise<void> {
    const ahead = await this.deps.store.turnsBookedAhead();
    if (ahead <= TURNS_AHEAD_MS) return;
    this.deps.metrics.outboundPlacements.inc({ result: 'paced' });
    await this.deps.rateLimit(ahead - TURNS_AHEAD_MS);
    throw new RateLimitError();
  }

  /** A call an earlier attempt created (its answer lost), found at Twilio and linked; false if none could be. */
  private async adopt(record: OutboundRecord, candidates: string[], log: Logger): Promise<boolean> {
    for (const sid of candidates) {
      const link = await this.deps.store.link(record.id, sid);
      if (link.kind === 'other' && link.callSid !== sid) {
        // The record was linked meanwhile (a status callback), to the call that is really ours.
        log.info({ callSid: link.callSid }, 'outbound call was already linked: not placing again');
        return true;
      }
      if (link.kind !== 'linked') continue;
      await this.cancelIfRequested(link.cancelRequested, record.id, sid, log);
      this.deps.metrics.outboundPlacements.inc({ result: 'adopted' });
      log.warn({ callSid: sid }, 'found the call an earlier attempt placed: adopted, not placing again');
      return true;
    }
    return false;
  }

  private async linked(record: OutboundRecord, callSid: string, log: Logger): Promise<void> {
    const link = await this.deps.store.link(record.id, callSid);
    if (link.kind === 'other') log.error({ callSid, linked: link.callSid }, 'outbound record was linked to another call meanwhile');
    if (link.kind === 'linked') await this.cancelIfRequested(link.cancelRequested, record.id, callSid, log);
  }

  /** A DELETE that came while the call was being placed is carried out, by a cancel job, once there is a CallSid. */
  private async cancelIfRequested(requested: boolean, id: string, callSid: string, log: Logger): Promise<void> {
    if (!requested) return;
    await this.deps.cancel(id, callSid).catch((err: Error) => log.error({ err: err.message }, 'could not queue the cancel asked for during placement'));
    log.info('outbound call placed while a cancel was asked for: canceling it');
  }

  private async changed(record: OutboundRecord, log: Logger): Promise<void> {
    await this.deps.onChange?.(record, 'ended').catch((err: Error) => log.error({ err: err.message }, 'outbound change hook failed'));
  }

  /** Canceled while an earlier attempt was failing, and no call of it exists: nothing to place. */
  private async canceledBeforePlacement(record: OutboundRecord, log: Logger): Promise<PlaceResult> {
    await this.deps.store.advance(record.id, 'ended', { outcome: 'canceled', endedAt: new Date().toISOString() });
    await this.deps.store.releaseSlot(record.id);
    const ended = await this.deps.store.get(record.id);
    if (ended) await emitOutboundStatus(this.deps.events, ended, 'ended');
    if (ended) await this.changed(ended, log);
    this.deps.metrics.outboundOutcomes.inc({ outcome: 'canceled' });
    log.info('outbound call canceled before it was placed');
    return 'canceled';
  }

  private async failed(record: OutboundRecord, reason: string, cause: unknown, log: Logger): Promise<PlaceResult> {
    const detail = cause === undefined ? { message: reason, code: undefined } : twilioErrorDetail(cause);
    const now = new Date().toISOString();
    await this.deps.store.advance(record.id, 'ended', {
      outcome: 'dial_failed',
      endedAt: now,
      errorMessage: detail.message || reason,
      ...(detail.code !== undefined ? { errorCode: String(detail.code) } : {}),
    });
    await this.deps.store.releaseSlot(record.id);
    const ended = await this.deps.store.get(record.id);
    if (ended) await emitOutboundStatus(this.deps.events, ended, 'ended');
    if (ended) await this.changed(ended, log);
    this.deps.metrics.outboundPlacements.inc({ result: 'refused' });
    this.deps.metrics.outboundOutcomes.inc({ outcome: 'dial_failed' });
    log.error({ reason, to: record.to, from: record.from }, 'Twilio refused the outbound call: dial_failed');
    throw new UnrecoverableError(reason);
  }
}
