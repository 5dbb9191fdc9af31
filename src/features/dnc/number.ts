import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { isE164 } from '../../formats';

/** The longest text taken as a phone number: anything longer is not one, and is not parsed. */
const MAX_NUMBER_CHARS = 64;

/**
 * `input` as an E.164 number (`+14155550100`), or null when it is not a possible phone number. Spaces,
 * dashes, brackets and a `tel:` prefix are accepted; the country code is required (a leading `+`), since
 * a list shared by every number of the bridge has no one country to assume.
 */
export function normalizeNumber(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_NUMBER_CHARS) return null;
  const parsed = parsePhoneNumberFromString(input.trim());
  if (!parsed || !parsed.isPossible()) return null;
  return isE164(parsed.number) ? parsed.number : null;
}
