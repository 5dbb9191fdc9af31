import Retell, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'retell-sdk';
import { encodeRetellMetadata, isE164, type CallDirection } from '../formats';

export interface RegistrationRequest {
  agentId: string;
  /** A published version number or a version tag such as `prod`; Retell's latest when absent. */
  agentVersion?: number | string;
  /** Per-call overrides of the agent (`agent`, `retell_llm`, `conversation_flow`), passed through as given. */
  agentOverride?: Record<string, unknown>;
  callSid: string;
  accountSid: string;
  from: string;
  to: string;
  direction: CallDirection;
  /** Strings only: Retell injects them into the prompt as they are. */
  dynamicVariables: Record<string, string>;
  /** Stored on the Retell call beside the bridge's own keys, which win on a clash. */
  metadata?: Record<string, unknown>;
}

export interface Registration {
  callId: string;
  agentId: string;
}

/** Why Retell did not give us a call; the label is used in logs and metrics. */
export type RegistrationFailureReason = 'retell_timeout' | 'retell_unreachable' | 'retell_rejected' | 'retell_error';

export class RegistrationError extends Error {
  constructor(
    readonly reason: RegistrationFailureReason,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RegistrationError';
  }
}

/**
 * Registers a Twilio call with Retell (dial-to-SIP). The Twilio identifiers go into `metadata`, which
 * Retell echoes on every function call and webhook, so later requests can find the live Twilio call.
 */
export async function registerPhoneCall(client: Retell, req: RegistrationRequest, timeoutMs: number): Promise<Registration> {
  try {
    const call = await client.call.registerPhoneCall(
      {
        agent_id: req.agentId,
        ...(req.agentVersion !== undefined ? { agent_version: req.agentVersion } : {}),
        ...(req.agentOverride ? { agent_override: req.agentOverride as Retell.CallRegisterPhoneCallParams['agent_override'] } : {}),
        direction: req.direction,
        // Retell stores these as E.164; withheld or SIP callers ("Anonymous", sip:...) still reach the
        // agent through the dynamic variables.
        ...(isE164(req.from) ? { from_number: req.from } : {}),
        ...(isE164(req.to) ? { to_number: req.to } : {}),
        // The bridge's keys are how later requests find the Twilio call: nobody may overwrite them.
        metadata: { ...req.metadata, ...encodeRetellMetadata(req.callSid, req.accountSid) },
        retell_llm_dynamic_variables: req.dynamicVariables,
      },
      { timeout: timeoutMs, maxRetries: 0 },
    );
    if (!call.call_id) throw new RegistrationError('retell_error', 'Retell answered without a call_id');
    return { callId: call.call_id, agentId: call.agent_id ?? req.agentId };
  } catch (err) {
    if (err instanceof RegistrationError) throw err;
    if (err instanceof APIConnectionTimeoutError) {
      throw new RegistrationError('retell_timeout', `Retell did not answer within ${timeoutMs} ms`);
    }
    if (err instanceof APIConnectionError) {
      throw new RegistrationError('retell_unreachable', `Retell could not be reached: ${err.message}`);
    }
    if (err instanceof APIError) {
      throw new RegistrationError('retell_rejected', `Retell refused the registration with HTTP ${err.status}`, err.status);
    }
    throw new RegistrationError('retell_error', `Registration failed: ${(err as Error).message}`);
  }
}
