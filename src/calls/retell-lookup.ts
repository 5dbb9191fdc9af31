import type { CallRecord, CallRegistry } from './registry';

/** The part of Retell's call object (function calls and webhooks) used to find the Twilio call. */
export interface RetellCallRef {
  call_id: string;
  metadata?: unknown;
  from_number?: string;
  to_number?: string;
  direction?: string;
}

const CALL_SID = /^CA[0-9a-fA-F]{32}$/;

/**
 * The call record for a Retell call: by Retell's call id, else by the Twilio CallSid the bridge put in
 * `metadata` at registration. A call registered while Redis was unavailable has no record; Retell's
 * signed metadata is enough to create one, so its transfers and lifecycle still work.
 */
export async function findCallForRetell(registry: CallRegistry, call: RetellCallRef, accountSid: string): Promise<CallRecord | null> {
  const indexed = await registry.callSidForRetellCall(call.call_id);
  if (indexed) return registry.get(indexed);

  const meta = (call.metadata ?? {}) as Record<string, unknown>;
  const callSid = meta.twilio_call_sid;
  if (typeof callSid !== 'string' || !CALL_SID.test(callSid)) return null;
  if (meta.twilio_account_sid !== undefined && meta.twilio_account_sid !== accountSid) return null;
  const existing = await registry.get(callSid);
  if (existing) return existing;
  const now = new Date().toISOString();
  await registry.adopt({
    callSid,
    accountSid,
    callId: call.call_id,
    from: call.from_number ?? '',
    to: call.to_number ?? '',
    direction: call.direction === 'outbound' ? 'outbound' : 'inbound',
    state: 'registered',
    createdAt: now,
    updatedAt: now,
  });
  return registry.get(callSid);
}
