import { verifySignedBody, type SignatureCheck } from '../http/signature';

export { SIGNATURE_TOLERANCE_MS, type SignatureCheck } from '../http/signature';

/**
 * Verifies `X-Retell-Signature: v=<ms>,d=<hex HMAC-SHA256(rawBody + ms, apiKey)>` over the raw body
 * bytes as received. Synchronous and constant-time; the SDK's own helper is async, and a forgotten
 * `await` on it accepts everything.
 */
export function verifyRetellSignature(rawBody: Buffer, apiKey: string, header: string | undefined, now = Date.now()): SignatureCheck {
  return verifySignedBody(rawBody, apiKey, header, now);
}
