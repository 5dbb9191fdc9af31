import type { EventSink, OutboundData } from '../events';
import { outboundView, type OutboundRecord, type OutboundStatus } from './record';

/** A string id in the request's metadata (a campaign's attempt carries `campaign_id` and `task_id`). */
function metadataId(metadata: Record<string, unknown>, key: string): string | undefined {
  const v = metadata[key];
  return typeof v === 'string' && v ? v : undefined;
}

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
  const campaignId = metadataId(metadata, 'campaign_id');
  const taskId = metadataId(metadata, 'task_id');
  return {
    to: record.to,
    from: record.from,
    outbound_id: record.id,
    ...(campaignId ? { campaign_id: campaignId } : {}),
    ...(taskId ? { task_id: taskId } : {}),
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
  const campaignId = metadataId(metadata, 'campaign_id');
  const taskId = metadataId(metadata, 'task_id');
  const data: OutboundData = {
    id: record.id,
    status,
    ...(record.callSid ? { call_sid: record.callSid } : {}),
    ...(campaignId ? { campaign_id: campaignId } : {}),
    ...(taskId ? { task_id: taskId } : {}),
    call: { ...outboundView(record, retellCallId), status } as unknown as Record<string, unknown>,
  };
  const key = `${record.id}:${status}`;
  if (type === 'outbound.status') return events.emit(type, data, { key });
  const outcome = record.outcome ?? 'completed';
  // A call not dialed says why (the list, or the pre-dial hook's reason).
  const reason = NOT_DIALED.has(outcome) && record.errorMessage ? { reason: record.errorMessage } : {};
  return events.emit('outbound.completed', { ...data, outcome, ...reason, ...(record.answeredBy ? { answered_by: record.answeredBy } : {}) }, { key });
}
