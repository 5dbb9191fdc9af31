import { Agent, type Dispatcher } from 'undici';
import { signedJsonPost, unsuccessfulAnswer } from '../../retell/signed-post';
import type { PredialRequest } from '../outbound';

export type { PredialRequest };

/** How a pre-dial question went: its answer, or why there is none (each refuses the dial). */
export type PredialResult = 'allow' | 'deny' | 'timeout' | 'unreachable' | 'http_error' | 'invalid' | 'too_large';

export type PredialAnswer = { result: 'allow'; ms: number } | { result: Exclude<PredialResult, 'allow'>; reason: string; ms: number };

/** The largest answer read: `{"allow": false, "reason": "..."}` needs a few hundred bytes. */
export const PREDIAL_ANSWER_MAX_BYTES = 16 * 1024;

/** The longest reason kept from the hook's answer. */
export const MAX_REASON_CHARS = 500;

export interface PredialHookOptions {
  url: string;
  /** Signs each request as Retell signs its webhooks (RETELL_API_KEY), as the lookup hook's are. */
  apiKey: string;
  /** PREDIAL_WEBHOOK_TIMEOUT_MS: the whole exchange, connecting included. */
  timeoutMs: number;
}

/** Reads `{"allow": true|false, "reason"?: "..."}`; anything else is a reason the dial is refused. */
export function parsePredialAnswer(body: string): { ok: true; allow: boolean; reason?: string } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'the answer is not JSON' };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: 'the answer is not a JSON object' };
  const { allow, reason } = value as { allow?: unknown; reason?: unknown };
  if (typeof allow !== 'boolean') return { ok: false, reason: 'the answer has no "allow": true or false' };
  if (reason !== undefined && reason !== null && typeof reason !== 'string') return { ok: false, reason: '"reason" must be a string' };
  const cut = typeof reason === 'string' ? reason.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_REASON_CHARS) : '';
  return { ok: true, allow, ...(cut ? { reason: cut } : {}) };
}

/**
 * The client of the user's pre-dial hook (PREDIAL_WEBHOOK_URL), asked before every outbound dial. It
 * never throws and never takes longer than its timeout; only an `allow: true` in time lets the call be
 * dialed (fail closed).
 */
export class PredialHook {
  readonly timeoutMs: number;
  private readonly url: string;
  private readonly apiKey: string;
  // Its own keep-alive pool: the TLS handshake is paid once per connection, not per dial.
  private readonly dispatcher: Dispatcher = new Agent({ keepAliveTimeout: 30_000, pipelining: 1 });

  constructor(opts: PredialHookOptions) {
    this.url = opts.url;
    this.apiKey = opts.apiKey;
    this.timeoutMs = opts.timeoutMs;
  }

  async ask(request: PredialRequest): Promise<PredialAnswer> {
    const answer = await signedJsonPost(this.dispatcher, this.url, JSON.stringify(request), {
      apiKey: this.apiKey,
      timeoutMs: this.timeoutMs,
      maxBytes: PREDIAL_ANSWER_MAX_BYTES,
    });
    const ms = answer.ms;
    if (!answer.ok) return { result: answer.kind, reason: `the pre-dial hook: ${answer.message}`, ms };
    const failed = unsuccessfulAnswer(answer.status);
    if (failed) return { result: 'http_error', reason: `the pre-dial hook ${failed}`, ms };
    const parsed = parsePredialAnswer(answer.body);
    if (!parsed.ok) return { result: 'invalid', reason: `the pre-dial hook's answer: ${parsed.reason}`, ms };
    if (parsed.allow) return { result: 'allow', ms };
    return { result: 'deny', reason: parsed.reason ?? 'the pre-dial hook did not allow the call', ms };
  }

  /** Closes the hook's idle connections. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
