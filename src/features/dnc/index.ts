/**
 * The do-not-call list: numbers the bridge never dials. Filled through the API (POST /dnc), by an SMS
 * opt-out keyword (STOP) and by the agent's `do_not_call` function; read before every outbound call is
 * queued and again just before it is dialed.
 */
export { normalizeNumber } from './number';
export { DoNotCallList, doNotCallKeys, MAX_SOURCE_CHARS, type DoNotCallEntry, type DoNotCallSource } from './repository';
