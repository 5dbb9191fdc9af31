import type { Twilio } from 'twilio';
import { whenSent } from '../../twilio/http-client';

/** Where Twilio reaches the bridge about an outbound call; each URL carries the call's id as `?o=`. */
export const OUTBOUND_PATHS = {
  /** Fetched when the callee answers: the Retell registration happens here, not before. */
  answer: '/twilio/outbound/answer',
  /** Call progress: initiated, ringing, answered, completed. */
  status: '/twilio/outbound/status',
  /** Asynchronous answering-machine detection verdicts; never the answer URL, or each call would register twice. */
  amd: '/twilio/outbound/amd',
} as const;

export function outboundUrl(publicUrl: string, path: keyof typeof OUTBOUND_PATHS, id: string): string {
  return `${publicUrl}${OUTBOUND_PATHS[path]}?o=${encodeURIComponent(id)}`;
}

/** What Twilio's asynchronous AMD listens for: `Enable` reports at once, `DetectMessageEnd` after the greeting's beep. */
export type MachineDetection = 'Enable' | 'DetectMessageEnd';

export interface PlaceCallRequest {
  /** The bridge's id for the call, carried in every callback URL. */
  id: string;
  to: string;
  from: string;
  /** Seconds to let the phone ring (5-600). */
  ringTimeoutS: number;
  machineDetection: MachineDetection;
  /** Told when the request is written to its connection (the pacing guard counts it from then). @defaultValue none */
  onSent?: () => void;
}

/**
 * `calls.create` with a URL (not inline TwiML), so the Retell call is registered only when the callee
 * answers: no registration is orphaned by a call nobody picks up, and Retell's five-minute registration
 * timeout cannot run out while the phone rings. AMD runs asynchronously so a person hears the agent at
 * once, with its verdicts on a route of their own.
 */
export async function placeCall(client: Twilio, publicUrl: string, req: PlaceCallRequest): Promise<{ sid: string; status: string }> {
  const create = () => client.calls.create({
    to: req.to,
    from: req.from,
    url: outboundUrl(publicUrl, 'answer', req.id),
    method: 'POST',
    statusCallback: outboundUrl(publicUrl, 'status', req.id),
    statusCallbackMethod: 'POST',
    statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    timeout: req.ringTimeoutS,
    machineDetection: req.machineDetection,
    asyncAmd: 'true',
    asyncAmdStatusCallback: outboundUrl(publicUrl, 'amd', req.id),
    asyncAmdStatusCallbackMethod: 'POST',
  });
  const call = await (req.onSent ? whenSent(req.onSent, create) : create());
  return { sid: call.sid, status: call.status };
}
