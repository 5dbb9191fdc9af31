import type { CallRecord } from '../../calls/record';
import type { CallRepository } from '../../calls/repository';
import type { CallIds, EventSink } from './catalog';

type MetadataId = 'outbound_id' | 'campaign_id' | 'task_id';

/** Ids a call's metadata may carry (the outbound request's, a campaign's and its task's): those of `keys` that are non-empty strings, in that order. */
export function metadataIds<K extends MetadataId>(metadata: Record<string, unknown> | undefined, keys: readonly K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const v = metadata?.[key];
    if (typeof v === 'string' && v) out[key] = v;
  }
  return out;
}

/**
 * A call's ids as every call event carries them, from its record, and the outbound request's (and
 * campaign's) ids found in `metadata` (the outbound record's, with its id as `outbound_id`).
 */
export function callData(record: Pick<CallRecord, 'callSid' | 'callId' | 'direction' | 'from' | 'to'>, metadata?: Record<string, unknown>): CallIds {
  return {
    call_sid: record.callSid,
    ...(record.callId ? { retell_call_id: record.callId } : {}),
    direction: record.direction,
    from: record.from,
    to: record.to,
    ...metadataIds(metadata, ['outbound_id', 'campaign_id', 'task_id']),
  };
}

/**
 * `call.ended`, once Twilio reports the call over (`twilioStatus` final): the call's ids from its record,
 * once per call however often Twilio reports it. Nothing for a call the bridge has no record of, or when
 * no endpoint takes the event. Never throws.
 */
export async function emitCallEnded(
  events: EventSink,
  calls: Pick<CallRepository, 'get'>,
  ended: { callSid: string; twilioStatus: string; duration?: string; metadata?: Record<string, unknown> },
): Promise<void> {
  if (events.wants && !events.wants('call.ended')) return;
  const record = await calls.get(ended.callSid).catch(() => null);
  if (!record) return;
  const duration = ended.duration !== undefined && /^\d+$/.test(ended.duration) ? Number(ended.duration) : undefined;
  await events.emit(
    'call.ended',
    { ...callData(record, ended.metadata), twilio_status: ended.twilioStatus, ...(duration !== undefined ? { duration_s: duration } : {}) },
    { key: ended.callSid },
  );
}
