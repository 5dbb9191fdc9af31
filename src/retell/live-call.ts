import type Retell from 'retell-sdk';

/**
 * Puts `context` into the agent's live call and has it respond (Retell's Update Live Call with
 * `additional_context` and `trigger_response`): how the agent learns, mid-conversation, what happened to
 * something it asked for. False when Retell no longer has the call live (a 4xx: nothing to retry);
 * throws on a 5xx, 408, 429 or a network error, for the job to retry.
 */
export async function tellAgent(retell: Retell, callId: string, context: string, timeoutMs: number): Promise<boolean> {
  try {
    await retell.call.updateLive(callId, { call_control: { additional_context: context, trigger_response: true } }, { timeout: timeoutMs, maxRetries: 0 });
    return true;
  } catch (err) {
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) return false;
    throw new Error(`could not tell the agent: ${(err as Error).message}`);
  }
}
