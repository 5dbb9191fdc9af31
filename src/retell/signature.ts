import { createHmac, timingSafeEqual } from 'node:crypto';

/** Retell signs with a millisecond timestamp and accepts five minutes of clock difference either way. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

const HEADER = /^v=(\d{10,16}),d=([0-9a-f]{64})$/;

export type SignatureRefusal = 'missing' | 'malformed' | 'stale' | 'mismatch';
export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureRefusal };

/** A header that is well-formed and fresh, ready to be checked against the body. */
export interface SignatureHeader {
  timestamp: string;
  digest: Buffer;
}

/**
 * Checks what can be checked of `X-Retell-Signature: v=<ms>,d=<hex>` without the body: present,
 * well-formed, and within five minutes of `now`. A request that fails here is refused before its body
 * is read.
 */
export function parseRetellSignature(
  header: string | undefined,
  now = Date.now(),
): { ok: true; header: SignatureHeader } | { ok: false; reason: SignatureRefusal } {
  if (!header) return { ok: false, reason: 'missing' };
  const match = HEADER.exec(header.trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const timestamp = match[1]!;
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_TOLERANCE_MS) return { ok: false, reason: 'stale' };
  return { ok: true, header: { timestamp, digest: Buffer.from(match[2]!, 'hex') } };
}

/** Whether `header` signs `rawBody` with `apiKey`: HMAC-SHA256(rawBody + timestamp), constant-time. */
export function signsBody(header: SignatureHeader, rawBody: Buffer, apiKey: string): boolean {
  return timingSafeEqual(digest(rawBody, header.timestamp, apiKey), header.digest);
}

/**
 * Verifies `X-Retell-Signature: v=<ms>,d=<hex HMAC-SHA256(rawBody + ms, apiKey)>` over the raw body
 * bytes as received (re-serialised JSON would not match). Synchronous and constant-time; the SDK's
 * own helper is async, and a forgotten `await` on it accepts everything.
 */
export function verifyRetellSignature(rawBody: Buffer, apiKey: string, header: string | undefined, now = Date.now()): SignatureCheck {
  const parsed = parseRetellSignature(header, now);
  if (!parsed.ok) return parsed;
  return signsBody(parsed.header, rawBody, apiKey) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

/**
 * Signs a body the way Retell signs its webhooks, so a receiver's `Retell.verify(body, apiKey,
 * header)` (or `verifyRetellSignature` above) accepts it. Returns the `X-Retell-Signature` value.
 */
export function signRetellBody(rawBody: string | Buffer, apiKey: string, now = Date.now()): string {
  const timestamp = String(Math.trunc(now));
  return `v=${timestamp},d=${digest(rawBody, timestamp, apiKey).toString('hex')}`;
}

/** Retell's digest: HMAC-SHA256 over the body followed by the timestamp, with the API key. */
function digest(rawBody: string | Buffer, timestamp: string, apiKey: string): Buffer {
  return createHmac('sha256', apiKey).update(rawBody).update(timestamp).digest();
}
