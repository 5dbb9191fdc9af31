import { decodeRetellMetadata } from '../formats';
import type { RetellCallRef } from '../retell/functions';

export type { RetellCallRef };
import type { CallRecord } from './record';
import type { CallRepository } from './repository';


/**
 * The call record for a Retell call: by Retell's call id, else by the Twilio CallSid the bridge put in
 * `metadata` at registration. A call registered while Redis was unavailable has no record; Retell's
 * signed metadata is enough to create one (hence "adopt"), so its transfers and lifecycle still work.
 * A record that already has a different Retell call id is not this call's: null.
 */
export async function findOrAdoptCall(store: CallRepository, call: RetellCallRef, accountSid: string): Promise<CallRecord | null> {
  const indexed = await store.callSidForRetellCall(call.call_id);
  if (indexed) return store.get(indexed);

  const named = decodeRetellMetadata(call.metadata, accountSid);
  if (!named) return null;
  const existing = await store.get(named.callSid);
  // The record belongs to another Retell call: metadata alone, which anyone who can get a call
  // registered could write, must not act on a call registered under a different call_id.
  if (existing) return existing.callId && existing.callId !== call.call_id ? null : existing;
  const now = new Date().toISOString();
  await store.adopt({
    callSid: named.callSid,
    accountSid,
    callId: call.call_id,
    from: call.from_number ?? '',
    to: call.to_number ?? '',
    direction: call.direction === 'outbound' ? 'outbound' : 'inbound',
    state: 'registered',
    createdAt: now,
    updatedAt: now,
  });
  return store.get(named.callSid);
}
