/** Request fields shared by every way of asking for outbound calls (POST /calls and campaigns). */
import { z } from 'zod';
import type { Config } from '../../config';
import { speakable } from '../../formats';
import type { VoicemailMode } from './record';

/** How a call is dialled and what happens at a voicemail: the same fields, bounds and reasons wherever calls are requested. */
export const dialOptions = {
  voicemail: z.enum(['hangup', 'message', 'continue'], { error: 'voicemail must be hangup, message or continue' }).optional(),
  // Said at the beep, long after this request has been answered: characters XML cannot carry (control
  // characters, U+FFFE) are dropped now, as in the agent's messages, so what is stored can always be said.
  voicemail_message: z
    .string({ error: 'voicemail_message must be a string' })
    .max(1000)
    .transform(speakable)
    .pipe(z.string({ error: 'voicemail_message must not be empty: it needs words to say (control characters are removed)' }))
    .optional(),
  ring_timeout_s: z.number({ error: 'ring_timeout_s must be a number of seconds' }).int().min(5).max(600).optional(),
  record: z.boolean({ error: 'record must be true or false' }).optional(),
};

/** What a request for calls leaves to configuration, filled in, or why it cannot be (a 400). */
export type DialDefaults = { ok: true; from: string; agentId: string; voicemail: VoicemailMode } | { ok: false; reason: string };

/**
 * The caller number and agent a request did not name (OUTBOUND_FROM_NUMBER; AGENT_ROUTES, then
 * RETELL_AGENT_ID), and its voicemail mode, checked against its message.
 */
export function dialDefaults(
  request: { from?: string; agent_id?: string; voicemail?: VoicemailMode; voicemail_message?: string },
  config: Pick<Config, 'outbound' | 'retell'>,
): DialDefaults {
  const from = request.from ?? config.outbound.fromNumber;
  if (!from) return { ok: false, reason: 'from is required: name the Twilio number to call from, or set OUTBOUND_FROM_NUMBER' };
  const agentId = request.agent_id ?? config.retell.agentRoutes[from] ?? config.retell.defaultAgentId;
  if (!agentId) return { ok: false, reason: `agent_id is required: ${from} is not in AGENT_ROUTES and RETELL_AGENT_ID is not set` };
  const voicemail = request.voicemail ?? 'continue';
  if (voicemail === 'message' && !request.voicemail_message) return { ok: false, reason: 'voicemail_message is required with voicemail "message"' };
  if (voicemail !== 'message' && request.voicemail_message !== undefined) return { ok: false, reason: 'voicemail_message is only used with voicemail "message"' };
  return { ok: true, from, agentId, voicemail };
}
