import type { Config } from '../config';
import { isE164 } from '../formats';

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

export function isAllowlisted(number: string, allowlist: readonly string[]): boolean {
  return allowlist.some((entry) => (entry.endsWith('*') ? number.startsWith(entry.slice(0, -1)) : number === entry));
}

/** The names an agent may use, for the sentence it hears when it asks for something else. */
export function destinationNames(transfer: Config['transfer']): string[] {
  return Object.keys(transfer.destinations);
}
