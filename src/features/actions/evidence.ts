import type { Twilio } from 'twilio';

/** Twilio's final call statuses. */
const FINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/** What the call shows about an earlier request whose answer never came. */
export type Evidence =
  /** The request took effect: do not send it again. */
  | 'performed'
  /** The call is over: there is nothing left to act on. */
  | 'call_ended'
  /** Nothing shows it took effect: sending it (again) is safe. */
  | 'not_performed';

export type LookFor =
  /** A redirect to `<Dial>` `target` (an E.164 number or a SIP URI) sent at `since`. */
  | { kind: 'transfer'; target: string; since: Date }
  /** A hang-up sent at `since`: `Status=completed`, or a redirect to `<Say>…<Hangup/>`. */
  | { kind: 'end_call'; since: Date };

/** Twilio's times have whole seconds, and its clock is not ours. */
const CLOCK_SLACK_MS = 2000;

/**
 * Looks at a live call for the effect of a request that may or may not have reached Twilio.
 *
 * A redirect leaves traces on the Calls resource: it ends the call's current `<Dial>` legs (the SIP leg
 * to Retell) and, for a transfer, starts a child leg (`parent_call_sid` = the call) to the destination.
 * A hang-up ends the call, or, with a parting message, ends the Retell leg while the `<Say>` plays.
 */
export async function lookForEffect(twilio: Twilio, callSid: string, look: LookFor): Promise<Evidence> {
  const call = await twilio.calls(callSid).fetch();
  if (FINAL.has(call.status)) return 'call_ended';
  const since = look.since.getTime() - CLOCK_SLACK_MS;
  const children = await twilio.calls.list({ parentCallSid: callSid, pageSize: 50, limit: 50 });
  if (look.kind === 'transfer') {
    const started = children.some((c) => c.to === look.target && (c.dateCreated?.getTime() ?? 0) >= since);
    return started ? 'performed' : 'not_performed';
  }
  const legsEnded = children.length > 0 && children.every((c) => FINAL.has(c.status) && (c.endTime?.getTime() ?? 0) >= since);
  return legsEnded ? 'performed' : 'not_performed';
}
