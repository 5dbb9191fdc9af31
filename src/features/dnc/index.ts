/**
 * The do-not-call list: numbers the bridge never dials. Filled through the API (POST /dnc), by an SMS
 * opt-out keyword (STOP) and by the agent's `do_not_call` function; read before every outbound call is
 * queued and again just before it is dialed.
 */
export { normalizeNumber } from './number';
export { DoNotCallList, doNotCallKeys, MAX_SOURCE_CHARS, type DoNotCallEntry, type DoNotCallSource } from './repository';
export { DNC_BODY_LIMIT_BYTES, doNotCallRoutes, MAX_NUMBERS_PER_REQUEST, type DoNotCallRoutesDeps } from './routes';
export { DialGate, type DialGateDeps, type DialVerdict } from './gate';
export { doNotCallFunction, type DoNotCallFunctionDeps } from './function';
export { MAX_REASON_CHARS, parsePredialAnswer, PREDIAL_ANSWER_MAX_BYTES, PredialHook, type PredialAnswer, type PredialRequest, type PredialResult } from './predial-hook';
