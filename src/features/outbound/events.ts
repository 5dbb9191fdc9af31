import { metadataIds, type EventSink, type OutboundData } from '../events';
import { outboundView, type OutboundRecord, type OutboundStatus } from './record';

/** A campaign's attempt carries its campaign's and task's ids in its metadata. */
const CAMPAIGN_IDS = ['campaign_id', 'task_id'] as const;

/** What the pre-dial hook is sent before an outbound dial. */
export interface PredialRequest {
  to: string;
  from: string;
  /** The outbound call's id (`out_…`, GET /calls/{id}). */
  outbound_id: string;
  campaign_id?: string;
  task_id?: string;
  /** The outbound request's `metadata`, when it had any. */
  metadata?: Record<string, unknown>;
}

/**
 * What the pre-dial hook is told about a call about to be dialed: the numbers, the ids (a campaign's
 * attempt carries `campaign_id` and `task_id` in its metadata), and the request's metadata.
 */
export function predialRequest(record: OutboundRecord): PredialRequest {
  const metadata = JSON.parse(record.metadata) as Record<string, unknown>;
  return {
    to: record.to,
    from: record.from,
    outbound_id: record.id,
    ...metadataIds(metadata, CAMPAIGN_IDS),
    ...(Object.keys(metadata).length ? { metadata } : {}),
  };
}

/** Outcomes of calls the worker did not dial. */
const NOT_DIALED: ReadonlySet<string> = new Set(['do_not_call', 'predial_refused']);

/**
 * Tells the user an outbound call moved to `status`: `outbound.status`, or `outbound.completed` with its
 * outcome once it ended. Once per call and status however often it is reported (the event's key); the
 * call as GET /calls/{id} shows it rides along as `call`, which OUTBOUND_WEBHOOK_URL receives. Never throws.
 */
export async function emitOutboundStatus(events: EventSink, record: OutboundRecord, status: OutboundStatus, retellCallId?: string): Promise<void> {
  const type = status === 'ended' ? 'outbound.completed' : 'outbound.status';
  if (events.wants && !events.wants(type)) return;
  const metadata = JSON.parse(record.metadata) as Record<string, unknown>;
  const data: OutboundData = {
    id: record.id,
    status,
    ...(record.callSid ? { call_sid: record.callSid } : {}),
    ...metadataIds(metadata, CAMPAIGN_IDS),
    call: { ...outboundView(record, retellCallId), status } as unknown as Record<string, unknown>,
  };
  const key = `${record.id}:${status}`;
  if (type === 'outbound.status') return events.emit(type, data, { key });
  const outcome = record.outcome ?? 'completed';
  // A call not dialed says why (the list, or the pre-dial hook's reason).
  const reason = NOT_DIALED.has(outcome) && record.errorMessage ? { reason: record.errorMessage } : {};
  return events.emit('outbound.completed', { ...data, outcome, ...reason, ...(record.answeredBy ? { answered_by: record.answeredBy } : {}) }, { key });
}
