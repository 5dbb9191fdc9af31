import type { Dispatcher } from 'undici';
import { boundedPost, PostError, type PostFailure } from '../http/bounded-post';
import { signRetellBody } from './signature';

export interface SignedPostOptions {
  /** Signs the body as Retell signs its webhooks, so the user's hook checks it with the same code. */
  apiKey: string;
  /** For the whole exchange, connecting included. */
  timeoutMs: number;
  /** Largest answer read; a larger one is `too_large`. */
  maxBytes: number;
}

/** The hook's answer (any status) with how long it took, or why there is none. */
export type SignedPostResult =
  | { ok: true; status: number; body: string; ms: number }
  | { ok: false; kind: PostFailure; message: string; ms: number };

/**
 * One JSON POST to a hook the user runs (the inbound lookup, the pre-dial check), signed with
 * `X-Retell-Signature` and bounded in time and size by boundedPost. Never throws.
 */
export async function signedJsonPost(dispatcher: Dispatcher, url: string, body: string, opts: SignedPostOptions): Promise<SignedPostResult> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  try {
    const answer = await boundedPost(dispatcher, url, {
      headers: {
        'content-type': 'application/json',
        'user-agent': 'twilio-retell-bridge',
        'x-retell-signature': signRetellBody(body, opts.apiKey),
      },
      body,
      timeoutMs: opts.timeoutMs,
      maxBytes: opts.maxBytes,
    });
    return { ok: true, status: answer.status, body: answer.body, ms: took() };
  } catch (err) {
    const kind = err instanceof PostError ? err.kind : 'unreachable';
    return { ok: false, kind, message: (err as Error).message, ms: took() };
  }
}

/** `answered HTTP 503` for a status other than 2xx (saying that a 3xx is not followed), or undefined for a 2xx. */
export function unsuccessfulAnswer(status: number): string | undefined {
  if (status >= 200 && status <= 299) return undefined;
  const where = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
  return `answered HTTP ${status}${where}`;
}
