import { createHmac } from 'node:crypto';
import { sign } from 'retell-sdk';
import { RETELL_KEY } from './bridge';

/** Sends a JSON body signed the way Retell signs it (the SDK's own `sign`), or with a given signature. */
export async function postRetell(
  baseUrl: string,
  path: string,
  body: unknown,
  opts: { signature?: string | null; apiKey?: string; raw?: string; contentType?: string } = {},
): Promise<Response> {
  const raw = opts.raw ?? JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  if (opts.signature !== null) headers['x-retell-signature'] = opts.signature ?? (await sign(raw, opts.apiKey ?? RETELL_KEY));
  return fetch(baseUrl + path, { method: 'POST', headers, body: raw });
}

/** A signature in Retell's format for an arbitrary timestamp (to test replay windows). */
export function signAt(raw: string | Buffer, timestampMs: number, apiKey = RETELL_KEY): string {
  return `v=${timestampMs},d=${createHmac('sha256', apiKey).update(raw).update(String(timestampMs)).digest('hex')}`;
}

/** The body Retell posts to a custom function URL. */
export function functionCallBody(name: string, callId: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    name,
    call: {
      call_id: callId,
      call_type: 'phone_call',
      agent_id: 'agent_default',
      call_status: 'ongoing',
      direction: 'inbound',
      from_number: '+14155550199',
      to_number: '+14155550100',
      transcript: 'Agent: Hello!\nUser: Put me through to sales please.',
      ...extra,
    },
    args,
  };
}
