import type { Twilio } from 'twilio';
import type { OutboundCallbacks } from './callbacks';
import type { OutboundRecord } from './record';
import type { OutboundStore } from './repository';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { isFinalCallStatus } from '../../twilio/call-status';

/**
 * A placed call not heard of as ended by its ring time plus this is looked at Twilio (its final status
 * callback may have been refused, e.g. while Redis was away, and Twilio never retries one).
 * @defaultValue 60000 ms
 */
export const LOOK_MARGIN_MS = 60_000;
/** An answered call is looked at Twilio this often until it is known to be over. @defaultValue 120000 ms */
export const ANSWERED_LOOK_EVERY_MS = 120_000;
/** How often the worker's sweep looks for calls due to be looked at. @defaultValue 15000 ms */
export const SWEEP_EVERY_MS = 15_000;
/** Looks per sweep, one Twilio request each, sent one after another. */
const SWEEP_BATCH = 50;

export const SWEEP_SCHEDULER_ID = 'outbound-sweep';
/** The sweep's job, on the campaigns queue (the worker's periodic work on outbound calls). */
export const OUTBOUND_SWEEP_JOB = 'outbound_sweep';

export type LookResult = 'ended' | 'live' | 'not_placed' | 'unknown';

export interface OutboundReconcilerDeps {
  twilio: Twilio;
  store: OutboundStore;
  /** The status callback's own handling: a call found over at Twilio ends exactly as its callback would end it. */
  callbacks: Pick<OutboundCallbacks, 'progress'>;
  /** What the status route does for a call that ended: a person rung for its warm transfer is let go. @defaultValue nothing */
  onCallEnded?: (callSid: string) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
  /** @defaultValue Date.now */
  now?: () => number;
}

/** When a live call is next looked at: after its ring time (not answered yet) or periodically (answered). */
export function nextLook(record: Pick<OutboundRecord, 'status' | 'ringTimeoutS'>, now: number): number {
  if (record.status === 'in-progress') return now + ANSWERED_LOOK_EVERY_MS;
  return now + Number(record.ringTimeoutS || 0) * 1000 + LOOK_MARGIN_MS;
}

/**
 * Recovers lost final status callbacks: each placed call is watched (placement schedules its first
 * look) until it is known to be over; a call due is fetched from Twilio and, when Twilio says it is
 * over, processed through the status callback's code path (`OutboundCallbacks.progress`), so its
 * outcome, events and campaign hook are those of the callback, and a callback arriving after all
 * changes nothing (the record only moves forward, and only the move that ends it tells anyone).
 */
export class OutboundReconciler {
  private readonly now: () => number;

  constructor(private readonly deps: OutboundReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The worker's periodic pass over the calls due. */
  async sweep(): Promise<{ looked: number; ended: number }> {
    const due = await this.deps.store.looksDue(this.now(), SWEEP_BATCH);
    let ended = 0;
    for (const id of due) {
      const result = await this.look(id).catch((err: Error) => {
        this.deps.logger.error({ outboundId: id, err: err.message }, 'could not look at an outbound call at Twilio');
        return 'unknown' as const;
      });
      if (result === 'ended') ended++;
    }
    return { looked: due.length, ended };
  }

  /**
   * Looks at call `id` at Twilio now (the sweep, or a campaign's look at an attempt nothing was heard of);
   * `ended` when it is over (ended here or before).
   */
  async look(id: string): Promise<LookResult> {
    const { store, twilio } = this.deps;
    const record = await store.get(id);
    if (!record || record.status === 'ended') {
      await store.unwatch(id);
      return record ? 'ended' : 'unknown';
    }
    const now = this.now();
    if (!record.callSid) {
      // Being placed (the placement job owns it, and retries): look again later.
      await store.lookAt(id, now + LOOK_MARGIN_MS, true);
      return 'not_placed';
    }
    const log = this.deps.logger.child({ outboundId: id, callSid: record.callSid });
    let call;
    try {
      call = await twilio.calls(record.callSid).fetch();
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        log.error('Twilio does not know the outbound call: no longer looked at');
        await store.unwatch(id);
        return 'unknown';
      }
      await store.lookAt(id, now + LOOK_MARGIN_MS, true);
      throw err;
    }
    if (!isFinalCallStatus(call.status)) {
      await store.lookAt(id, nextLook({ ...record, status: call.status === 'in-progress' ? 'in-progress' : record.status }, now), true);
      return 'live';
    }
    const endedAt = call.endTime instanceof Date && !Number.isNaN(call.endTime.getTime()) ? call.endTime.toISOString() : new Date(now).toISOString();
    await this.deps.onCallEnded?.(record.callSid);
    const moved = await this.deps.callbacks.progress(id, {
      callSid: record.callSid,
      callStatus: call.status,
      at: endedAt,
      ...(call.duration !== null && call.duration !== undefined ? { duration: String(call.duration) } : {}),
    });
    await store.unwatch(id);
    if (moved === 'moved') {
      this.deps.metrics.outboundReconciled.inc({ twilio_status: call.status });
      log.warn({ twilioStatus: call.status, status: record.status }, 'outbound call ended without its final status callback: ended from Twilio\'s record');
    }
    return 'ended';
  }
}
