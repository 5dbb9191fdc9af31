/**
 * Outbound calls: `POST/GET/DELETE /calls`, placing each call once (paced by TWILIO_CPS and Retell's
 * capacity), registering it with Retell when the callee answers (through the inbound answerer), its
 * status and answering-machine verdicts, cancels, and their status events (`outbound.*`, which OUTBOUND_WEBHOOK_URL receives).
 */
export { callsRoutes } from './api-routes';
export { OutboundCallbacks } from './callbacks';
export { OutboundCanceler } from './cancel';
export {
  addPlaceCall,
  cancelJobId,
  createOutboundCallQueue,
  placeJobId,
  OUTBOUND_CALLS_QUEUE,
  type OutboundCallQueue,
  type OutboundCancelJob,
} from './jobs';
export { predialRequest, type PredialRequest } from './events';
export { dialDefaults, dialOptions, type DialDefaults } from './input';
export { OutboundReconciler, OUTBOUND_SWEEP_JOB, SWEEP_EVERY_MS, SWEEP_SCHEDULER_ID, LOOK_MARGIN_MS, ANSWERED_LOOK_EVERY_MS, type LookResult } from './reconcile';
export { OutboundPlacer, placementConcurrency, type DialCheck, type PlaceResult } from './placer';
export { OUTBOUND_ID, outboundView, type OutboundChangeHook, type OutboundOutcome, type OutboundRecord, type OutboundStatus, type OutboundView } from './record';
export { OutboundStore } from './repository';
export { OutboundCalls, outboundIdFor, type OutboundRequest, type PlaceOutcome } from './service';
export { twilioOutboundRoutes } from './twilio-routes';
