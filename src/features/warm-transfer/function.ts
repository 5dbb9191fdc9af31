import { z } from 'zod';
import type { CallRecord } from '../../calls/record';
import type { Config } from '../../config';
import { isE164, speakable } from '../../formats';
import { retellFunction, type RetellFunction } from '../../retell/functions';
import { destinationArg, notAllowed, numbersOf, resolveDestination, type ActionRequests } from '../actions';
import type { WarmTransferJob } from './jobs';

const warmTransferArgs = z.object({
  destination: destinationArg,
  // Said to the person taking the call, so cleaned like any sentence the caller steers.
  summary: z
    .string({ error: 'args.summary is required: a sentence or two for the person taking the call' })
    .max(600, 'args.summary must be at most 600 characters')
    .transform(speakable)
    .pipe(z.string({ error: 'args.summary must not be empty' }).trim().min(1, 'args.summary must not be empty')),
});

/**
 * The caller ID of a warm transfer's leg. A call placed through the API may show only the account's
 * numbers, unless it carries the inbound call's CallToken: then Twilio lets it show the original
 * caller's number. Without a token (an outbound call, or a record from before tokens were kept) or a
 * real number to show, the business number is used.
 */
function legCallerId(record: CallRecord): { from: string; withCallToken: boolean } {
  const { ours, theirs } = numbersOf(record);
  if (record.callToken && record.direction === 'inbound' && isE164(theirs)) return { from: theirs, withCallToken: true };
  return { from: ours, withCallToken: false };
}

/**
 * `warm_transfer`: rings the person while the agent stays with the caller (the worker places the leg;
 * Twilio's callbacks carry it on). Destinations are checked exactly as for a cold transfer, and it is
 * the call's one action, like a cold transfer.
 */
export function warmTransferFunction(deps: { config: Pick<Config, 'transfer'>; requests: ActionRequests }): RetellFunction {
  const { config, requests } = deps;
  return retellFunction('warm_transfer', warmTransferArgs, async (call, args) => {
    const destination = resolveDestination(args.destination, config.transfer);
    if (!destination.ok) return notAllowed(config.transfer);
    const answer = `Calling ${destination.label} now; stay with the caller and keep talking. I'll tell you if ${destination.label} doesn't take the call.`;
    return requests.request(
      call,
      { kind: 'warm_transfer', target: destination.target, answer, label: destination.label, summary: args.summary },
      (record): WarmTransferJob => ({
        kind: 'warm_transfer',
        callSid: record.callSid,
        callId: call.call_id,
        target: destination.target,
        targetKind: destination.kind,
        label: destination.label,
        summary: args.summary,
        ...legCallerId(record),
      }),
    );
  });
}
