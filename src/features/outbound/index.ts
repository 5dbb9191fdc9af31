/**
 * Outbound calls: `POST/GET/DELETE /calls`, placing each call once (paced by TWILIO_CPS and Retell's
 * capacity), registering it with Retell when the callee answers (through the inbound answerer), its
 * status and answering-machine verdicts, cancels, and the status webhook to OUTBOUND_WEBHOOK_URL.
 */
export { callsRoutes } from './api-routes';
export { OutboundCallbacks } from './callbacks';
export { OutboundCanceler } from './cancel';
export {
  addPlaceCall,
  cancelJobId,
  createOutboundCallQueue,
  createOutboundEventQueue,
  placeJobId,
  OUTBOUND_CALLS_QUEUE,
  OUTBOUND_EVENTS_QUEUE,
  type OutboundCallQueue,
  type OutboundCancelJob,
  type OutboundEventQueue,
} from './jobs';
export { OutboundPlacer } from './placer';
export { OUTBOUND_ID, outboundView, type OutboundRecord, type OutboundStatus, type OutboundView } from './record';
export { OutboundStore } from './repository';
export { OutboundCalls } from './service';
export { twilioOutboundRoutes } from './twilio-routes';
export { OutboundEventSender } from './webhook';
