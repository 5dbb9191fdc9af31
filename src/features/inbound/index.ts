/**
 * A call arriving at a Twilio number: the voice webhook, registered with Retell exactly once (after the
 * optional lookup hook) and answered with the `<Dial><Sip>`, the fallback, and the SIP REFER question.
 * Outbound calls are answered through the same answerer once the callee picks up.
 */
export { answerTiming, CallAnswerer, routedAgent, type Answer, type AnsweredCall } from './answerer';
export { LookupHook } from './lookup-hook';
export { countAnswer, inboundRoutes } from './routes';
export { LOOKUP_LIMITS, parseCallInboundAnswer, type CallInboundRequest } from './lookup-contract';
