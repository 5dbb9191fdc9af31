import type { Config } from '../../config';
import { isE164 } from '../../formats';

export type ResolvedDestination =
  | { ok: true; target: string; kind: 'number' | 'sip'; label: string }
  | { ok: false };

/**
 * Turns what an agent asked for into a destination the bridge may dial, or refuses.
 *
 * Only two things pass: a name from TRANSFER_DESTINATIONS, or an E.164 number on TRANSFER_ALLOWLIST.
 * An agent's arguments come from a conversation the caller steers, so an open transfer would let any
 * caller talk the agent into dialing premium-rate or international numbers on our account.
 */
export function resolveDestination(requested: string, transfer: Config['transfer']): ResolvedDestination {
  const wanted = requested.trim();
  if (wanted === '' || wanted.length > 128) return { ok: false };

  const byName = Object.entries(transfer.destinations).find(([name]) => name.toLowerCase() === wanted.toLowerCase());
  if (byName) {
    const [name, target] = byName;
    return { ok: true, target, kind: target.startsWith('sip') ? 'sip' : 'number', label: name };
  }

  // LLMs write numbers the way people say them: "+1 (415) 555-0101".
  const number = wanted.replace(/[\s().-]/g, '');
  if (isE164(number) && isAllowlisted(number, transfer.allowlist)) {
    return { ok: true, target: number, kind: 'number', label: number };
  }
  return { ok: false };
}

/**
 * Whether `number` (E.164) is on the list: equal to an entry, or starting with an entry's prefix (the
 * part before `*`). In the North American Numbering Plan every number has ten digits after +1, so a
 * prefix starting +1 admits only numbers of that length: `+1646555*` covers +1646555xxxx, never a
 * longer number that merely begins the same way. Elsewhere lengths vary, and a prefix admits any
 * E.164 length; list whole numbers where that matters.
 */
export function isAllowlisted(number: string, allowlist: readonly string[]): boolean {
  return allowlist.some((entry) => {
    if (!entry.endsWith('*')) return number === entry;
    if (!number.startsWith(entry.slice(0, -1))) return false;
    return !entry.startsWith('+1') || number.length === NANP_LENGTH;
  });
}

/** "+1" and ten digits. */
const NANP_LENGTH = 12;

/** The names an agent may use, for the sentence it hears when it asks for something else. */
export function destinationNames(transfer: Config['transfer']): string[] {
  return Object.keys(transfer.destinations);
}

/**
 * The destination of a SIP REFER (`ReferTransferTarget`, the Refer-To header's contents), checked exactly
 * as an agent's `transfer_call` destination. A REFER carries a number or a URI, never a name, so a
 * configured destination is recognised by its number or SIP URI; any other number must be on
 * TRANSFER_ALLOWLIST, and any other SIP URI is refused. Angle brackets, URI headers
 * (`?X-…=…`, which Twilio would not pass on anyway) and `tel:` parameters are dropped first.
 */
export function resolveReferTarget(raw: string, transfer: Config['transfer']): ResolvedDestination {
  const uri = raw.trim().replace(/^<|>$/g, '').split('?')[0]!.trim();
  const tel = /^tel:([^;]+)/i.exec(uri)?.[1];
  // A SIP URI whose user part is a phone number (sip:+14155550101@host) asks for that number.
  const sipNumber = /^sips?:(\+\d+)@/i.exec(uri)?.[1];
  const number = (tel ?? sipNumber)?.replace(/[\s().-]/g, '');
  // A REFER cannot name a destination, only its number or URI: a configured one is known by either.
  const configured = Object.entries(transfer.destinations).find(([, target]) => (number !== undefined ? target === number : sameDestination(target, uri)));
  if (configured) return { ok: true, target: configured[1], kind: configured[1].startsWith('sip') ? 'sip' : 'number', label: configured[0] };
  if (number === undefined) return { ok: false };
  return resolveDestination(number, transfer);
}

/** A configured target and a REFER's URI name the same place: SIP URIs compare without their parameters and case. */
function sameDestination(target: string, uri: string): boolean {
  if (!target.startsWith('sip')) return false;
  const bare = (s: string) => s.split(';')[0]!.toLowerCase();
  return bare(target) === bare(uri);
}
