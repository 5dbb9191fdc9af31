import type { Twilio } from 'twilio';

/** Where Twilio reaches the bridge about a warm transfer's leg; each URL carries the transfer's id as `?x=`. */
export const WARM_TRANSFER_PATHS = {
  /** Fetched when the person picks up: the summary and the accept prompt. */
  answer: '/twilio/warm-transfer/answer',
  /** The key pressed, or nothing after the prompt's timeout. */
  gather: '/twilio/warm-transfer/gather',
  /** The leg's end: completed, busy, no-answer, failed, canceled. */
  status: '/twilio/warm-transfer/status',
  /** Asynchronous answering-machine detection: a machine counts as nobody taking the call. */
  amd: '/twilio/warm-transfer/amd',
} as const;

export function warmTransferUrl(publicUrl: string, path: keyof typeof WARM_TRANSFER_PATHS, id: string): string {
  return `${publicUrl}${WARM_TRANSFER_PATHS[path]}?x=${encodeURIComponent(id)}`;
}

export interface PlaceLegRequest {
  /** The transfer's id, carried in every callback URL. */
  id: string;
  /** E.164 number or SIP URI, already checked against the configured destinations. */
  to: string;
  from: string;
  /** The caller's inbound CallToken: with it, Twilio lets the leg show the caller's own number as `from`. */
  callToken: string | undefined;
  ringTimeoutS: number;
}

/**
 * Rings the person taking a warm transfer. The answer URL plays the summary and asks for the accept key;
 * only the `completed` status callback is asked for, since it carries every way the leg can end; AMD runs
 * asynchronously so a person hears the summary at once, while a machine is reported on its own route.
 */
export async function placeWarmTransferLeg(client: Twilio, publicUrl: string, req: PlaceLegRequest): Promise<{ sid: string }> {
  const call = await client.calls.create({
    to: req.to,
    from: req.from,
    ...(req.callToken ? { callToken: req.callToken } : {}),
    url: warmTransferUrl(publicUrl, 'answer', req.id),
    method: 'POST',
    statusCallback: warmTransferUrl(publicUrl, 'status', req.id),
    statusCallbackMethod: 'POST',
    statusCallbackEvent: ['completed'],
    timeout: req.ringTimeoutS,
    machineDetection: 'Enable',
    asyncAmd: 'true',
    asyncAmdStatusCallback: warmTransferUrl(publicUrl, 'amd', req.id),
    asyncAmdStatusCallbackMethod: 'POST',
  });
  return { sid: call.sid };
}

/** Twilio's statuses of a call that has not been answered yet: `canceled` ends those, `completed` the rest. */
const NOT_ANSWERED = new Set(['queued', 'initiated', 'ringing']);
const FINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/**
 * Ends a leg whatever it is doing: canceled while it rings (Twilio ignores `completed` for those), hung
 * up once answered, after `farewell` if one is given (TwiML with a `<Say>` and a `<Hangup/>`); nothing
 * if it has ended. Returns what was done.
 */
export async function endLeg(client: Twilio, sid: string, farewell?: string): Promise<'canceled' | 'completed' | 'already_ended'> {
  const { status } = await client.calls(sid).fetch();
  if (FINAL.has(status)) return 'already_ended';
  if (NOT_ANSWERED.has(status)) {
    await client.calls(sid).update({ status: 'canceled' });
    return 'canceled';
  }
  await client.calls(sid).update(farewell ? { twiml: farewell } : { status: 'completed' });
  return 'completed';
}

/** A participant's statuses once its call is no longer in the room. */
const LEFT = new Set(['complete', 'failed']);

/**
 * Whether call `callSid` is in the live (`in-progress`) conference named `room`, through the REST API:
 * the conferences of that name, then the call's participant in each (404 when it is not one). This is how
 * a redirect into the conference whose answer never came is known to have been performed. Throws when
 * Twilio cannot tell.
 */
export async function isInConference(client: Twilio, room: string, callSid: string): Promise<boolean> {
  const conferences = await client.conferences.list({ friendlyName: room, status: 'in-progress', limit: 20, pageSize: 20 });
  for (const conference of conferences) {
    try {
      const participant = await client.conferences(conference.sid).participants(callSid).fetch();
      if (!LEFT.has(participant.status)) return true;
    } catch (err) {
      if ((err as { status?: unknown }).status !== 404) throw err;
    }
  }
  return false;
}
