import { createHash, randomBytes } from 'node:crypto';
import { orStoreUnavailable, StoreUnavailableError } from '../../calls/errors';
import { OUTBOUND_ID, outboundView, type OutboundChangeHook, type OutboundRecord, type OutboundView, type VoicemailMode } from './record';
import type { OutboundStore } from './repository';
import type { CallRepository } from '../../calls/repository';
import type { Config } from '../../config';
import { addPlaceCall, cancelJobId, placeJobId, type OutboundCallQueue } from './jobs';
import { emitOutboundStatus } from './events';
import { dialDefaults } from './input';
import type { EventSink } from '../events';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import { isAllowlisted } from '../actions';

/** A POST /calls body, as validated by the route (shape only; the rules that need configuration are here). */
export interface OutboundRequest {
  to: string;
  from?: string;
  agent_id?: string;
  agent_version?: number;
  dynamic_variables?: Record<string, string>;
  metadata?: Record<string, unknown>;
  voicemail?: VoicemailMode;
  voicemail_message?: string;
  ring_timeout_s?: number;
  /** Whether Twilio records the call; unset: RECORDING decides (recorded unless it is off). */
  record?: boolean;
}

/** Retell's default ring time for its own outbound calls (`ring_duration_ms` 30000). */
export const DEFAULT_RING_TIMEOUT_S = 30;

export type PlaceOutcome =
  | { kind: 'queued'; id: string }
  /** A repeat of an Idempotency-Key already taken: the same answer, nothing placed. */
  | { kind: 'repeat'; id: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'not_allowed'; reason: string }
  /** The number is on the do-not-call list. */
  | { kind: 'do_not_call'; reason: string }
  /** The Idempotency-Key was used for a different request. */
  | { kind: 'key_reused'; reason: string }
  | { kind: 'unavailable'; reason: string };

export type CancelOutcome =
  | { kind: 'canceled'; call: OutboundView }
  /** The call is being placed or rings: the worker cancels it at Twilio (once it has a CallSid). */
  | { kind: 'cancel_requested'; call: OutboundView }
  | { kind: 'too_late'; call: OutboundView; reason: string }
  | { kind: 'unknown' }
  | { kind: 'unavailable'; reason: string };

export interface OutboundCallsDeps {
  config: Pick<Config, 'outbound' | 'retell'>;
  store: OutboundStore;
  calls: CallRepository;
  queue: OutboundCallQueue;
  /** Where the cancel of a ringing call goes, for the worker. */
  actionQueue: CallActionQueue;
  events: EventSink;
  /** The do-not-call list: a listed number is refused before anything is queued. */
  doNotCall?: { has(number: string): Promise<boolean> };
  logger: Logger;
  metrics: Metrics;
  /** Told when a queued call was canceled. @defaultValue none */
  onChange?: OutboundChangeHook;
}

/** JSON with keys sorted at every level, so the same request always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * An Idempotency-Key maps to one id, so its record is the single place that decides whether a request
 * is new: one key, one atomic script, one Redis Cluster slot.
 */
export function outboundIdFor(idempotencyKey: string | undefined): string {
  return `out_${idempotencyKey === undefined ? randomBytes(16).toString('hex') : sha256(`idempotency-key:${idempotencyKey}`).slice(0, 32)}`;
}

/** The outbound-call API: place (queue), read and cancel calls the bridge makes from a Twilio number. */
export class OutboundCalls {
  constructor(private readonly deps: OutboundCallsDeps) {}

  async place(request: OutboundRequest, idempotencyKey: string | undefined): Promise<PlaceOutcome> {
    const { config } = this.deps;
    const defaults = dialDefaults(request, config);
    if (!defaults.ok) return { kind: 'invalid', reason: defaults.reason };
    const { from, agentId, voicemail } = defaults;
    // An open outbound API on a leaked token is toll fraud; the allow-list bounds what a token can dial.
    if (config.outbound.allowlist.length > 0 && !isAllowlisted(request.to, config.outbound.allowlist)) {
      return { kind: 'not_allowed', reason: `${request.to} is not on OUTBOUND_ALLOWLIST` };
    }

    if (this.deps.doNotCall) {
      let listed;
      try {
        listed = await orStoreUnavailable(() => this.deps.doNotCall!.has(request.to));
      } catch (err) {
        this.deps.logger.error({ err: (err as Error).message }, 'redis unavailable: outbound call refused with 503');
        return { kind: 'unavailable', reason: 'the do-not-call list is unavailable; try again' };
      }
      // A repeat of a request taken before the number was listed gets its first answer; the worker checks
      // the list again before dialing.
      const taken = listed && idempotencyKey !== undefined ? await this.deps.store.get(outboundIdFor(idempotencyKey)).catch(() => null) : null;
      if (listed && !taken) {
        this.deps.metrics.dialRefusals.inc({ stage: 'request', reason: 'do_not_call' });
        return { kind: 'do_not_call', reason: `${request.to} is on the do-not-call list` };
      }
    }

    const id = outboundIdFor(idempotencyKey);
    const now = new Date().toISOString();
    const record: OutboundRecord = {
      id,
      status: 'queued',
      createdAt: now,
      updatedAt: now,
      to: request.to,
      from,
      agentId,
      ...(request.agent_version !== undefined ? { agentVersion: String(request.agent_version) } : {}),
      dynamicVariables: JSON.stringify(request.dynamic_variables ?? {}),
      metadata: JSON.stringify(request.metadata ?? {}),
      voicemail,
      ...(request.voicemail_message !== undefined ? { voicemailMessage: request.voicemail_message } : {}),
      ringTimeoutS: String(request.ring_timeout_s ?? DEFAULT_RING_TIMEOUT_S),
      ...(request.record !== undefined ? { record: request.record ? '1' : '0' } : {}),
      requestHash: sha256(canonical(request)),
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    };
    const log = this.deps.logger.child({ outboundId: id });
    let created;
    try {
      created = await orStoreUnavailable(() => this.deps.store.create(record));
    } catch (err) {
      log.error({ err: (err as Error).message }, 'redis unavailable: outbound call refused with 503');
      return { kind: 'unavailable', reason: 'the call store is unavailable; try again' };
    }
    if (created === 'different') return { kind: 'key_reused', reason: 'this Idempotency-Key was already used for a different request' };
    if (created === 'same') {
      // The first request's queue add may never have reached Redis; adding the same job id again is free.
      const existing = await this.deps.store.get(id).catch(() => null);
      if (existing?.status === 'queued') await addPlaceCall(this.deps.queue, id).catch(() => undefined);
      return { kind: 'repeat', id };
    }
    try {
      await addPlaceCall(this.deps.queue, id);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'queue unavailable: outbound call refused with 503');
      return { kind: 'unavailable', reason: 'the queue is unavailable; try again (with the same Idempotency-Key)' };
    }
    log.info({ to: record.to, from, agentId, voicemail }, 'outbound call queued');
    return { kind: 'queued', id };
  }

  async get(id: string): Promise<OutboundView | null> {
    if (!OUTBOUND_ID.test(id)) return null;
    const record = await orStoreUnavailable(() => this.deps.store.get(id));
    if (!record) return null;
    const call = record.callSid ? await orStoreUnavailable(() => this.deps.calls.get(record.callSid!)) : null;
    return outboundView(record, call?.callId);
  }

  /**
   * Cancels a call still queued (at once) or ringing (the worker sends Twilio's `Status=canceled`, which
   * leaves answered calls alone). A call being placed at this moment is marked, and the worker cancels it
   * when Twilio has given it a CallSid.
   */
  async cancel(id: string): Promise<CancelOutcome> {
    if (!OUTBOUND_ID.test(id)) return { kind: 'unknown' };
    const log = this.deps.logger.child({ outboundId: id });
    let result;
    try {
      result = await orStoreUnavailable(() => this.deps.store.cancel(id));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      return { kind: 'unavailable', reason: 'the call store is unavailable; try again' };
    }
    if (result.kind === 'unknown') return { kind: 'unknown' };
    if (result.kind === 'too_late') {
      return { kind: 'too_late', call: await this.view(id), reason: `the call is ${result.status}; only a queued or ringing call can be canceled` };
    }
    if (result.kind === 'canceled') {
      await this.deps.queue.remove(placeJobId(id)).catch(() => undefined);
      await this.ended(id, log);
      log.info('queued outbound call canceled');
      return { kind: 'canceled', call: await this.view(id) };
    }
    if (result.callSid) {
      // Twilio's side of it is the worker's, as every side effect is: exactly once, with retries.
      try {
        await addCallAction(this.deps.actionQueue, { kind: 'outbound_cancel', id, callSid: result.callSid }, cancelJobId(id));
      } catch (err) {
        log.warn({ callSid: result.callSid, err: (err as Error).message }, 'queue unavailable: cancel refused with 503');
        return { kind: 'unavailable', reason: 'the queue did not take the cancel; try again' };
      }
      log.info({ callSid: result.callSid }, 'cancel of a ringing outbound call queued');
    }
    return { kind: 'cancel_requested', call: await this.view(id) };
  }

  private async view(id: string): Promise<OutboundView> {
    const v = await this.get(id);
    if (!v) throw new StoreUnavailableError(`outbound call ${id} vanished`);
    return v;
  }

  private async ended(id: string, log: Logger): Promise<void> {
    this.deps.metrics.outboundOutcomes.inc({ outcome: 'canceled' });
    const record = await this.deps.store.get(id);
    if (record) await emitOutboundStatus(this.deps.events, record, 'ended');
    if (record) await this.deps.onChange?.(record, 'ended').catch((err: Error) => log.error({ err: err.message }, 'outbound change hook failed'));
  }
}
