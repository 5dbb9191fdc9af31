import { timingSafeEqual } from 'node:crypto';
import { getExpectedTwilioSignature, validateRequest } from 'twilio';

/**
 * Checks `X-Twilio-Signature` for a form-encoded webhook.
 *
 * The URL Twilio signed is the one configured on the number, so it is rebuilt from PUBLIC_URL and the
 * request's path and query as received: never from `req.protocol`/`Host`, which a TLS-terminating
 * router (Heroku, Render) rewrites.
 *
 * The URL exactly as configured is what Twilio signs in practice, so it is checked first, with one
 * HMAC; only when that fails does twilio's `validateRequest` try the variants Twilio is known to sign
 * (with or without the default port, re-encoded query), which parses the URL several times over.
 * Both comparisons are constant-time.
 */
export function isValidTwilioSignature(
  authToken: string,
  publicUrl: string,
  originalUrl: string,
  params: Record<string, unknown>,
  signature: string | undefined,
): boolean {
  if (!signature) return false;
  const url = publicUrl + originalUrl;
  const expected = Buffer.from(getExpectedTwilioSignature(authToken, url, params));
  const given = Buffer.from(signature);
  if (expected.length === given.length && timingSafeEqual(expected, given)) return true;
  return validateRequest(authToken, signature, url, params);
}
