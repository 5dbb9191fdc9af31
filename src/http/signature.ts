import { createHmac, timingSafeEqual } from 'node:crypto';

/** Signatures carry a millisecond timestamp and are accepted for five minutes of clock difference either way. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

const HEADER = /^v=(\d{10,16}),d=([0-9a-f]{64})$/;

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/**
 * `v=<ms>,d=<hex HMAC-SHA256(body + ms, key)>`: the scheme Retell signs its requests with
 * (`X-Retell-Signature`), which the bridge also uses for what it sends (`X-Bridge-Signature`), so one
 * verifier serves both.
 */
export function signBody(body: string | Buffer, key: string, timestampMs = Date.now()): string {
  const ts = String(timestampMs);
  return `v=${ts},d=${createHmac('sha256', key).update(body).update(ts).digest('hex')}`;
}

/**
 * Verifies a `signBody` header over the raw body bytes as received (re-serialised JSON would not
 * match). Synchronous and constant-time.
 */
export function verifySignedBody(rawBody: Buffer, key: string, header: string | undefined, now = Date.now()): SignatureCheck {
  if (!header) return { ok: false, reason: 'missing' };
  const match = HEADER.exec(header.trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const timestamp = match[1]!;
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_TOLERANCE_MS) return { ok: false, reason: 'stale' };
  const expected = createHmac('sha256', key).update(rawBody).update(timestamp).digest();
  const given = Buffer.from(match[2]!, 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
