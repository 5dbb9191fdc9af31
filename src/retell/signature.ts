import { createHmac, timingSafeEqual } from 'node:crypto';

/** Retell signs with a millisecond timestamp and accepts five minutes of clock difference either way. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

const HEADER = /^v=(\d{10,16}),d=([0-9a-f]{64})$/;

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/**
 * Verifies `X-Retell-Signature: v=<ms>,d=<hex HMAC-SHA256(rawBody + ms, apiKey)>` over the raw body
 * bytes as received (re-serialised JSON would not match). Synchronous and constant-time; the SDK's
 * own helper is async, and a forgotten `await` on it accepts everything.
 */
export function verifyRetellSignature(rawBody: Buffer, apiKey: string, header: string | undefined, now = Date.now()): SignatureCheck {
  if (!header) return { ok: false, reason: 'missing' };
  const match = HEADER.exec(header.trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const timestamp = match[1]!;
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_TOLERANCE_MS) return { ok: false, reason: 'stale' };
  const expected = createHmac('sha256', apiKey).update(rawBody).update(timestamp).digest();
  const given = Buffer.from(match[2]!, 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

/**
 * Signs a body the way Retell signs its webhooks, so a receiver's `Retell.verify(body, apiKey,
 * header)` (or `verifyRetellSignature` above) accepts it. Returns the `X-Retell-Signature` value.
 */
export function signRetellBody(rawBody: string | Buffer, apiKey: string, now = Date.now()): string {
  const timestamp = String(Math.trunc(now));
  return `v=${timestamp},d=${createHmac('sha256', apiKey).update(rawBody).update(timestamp).digest('hex')}`;
}
