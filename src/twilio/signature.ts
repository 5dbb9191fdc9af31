import { validateRequest } from 'twilio';

/**
 * Checks `X-Twilio-Signature` for a form-encoded webhook.
 *
 * The URL Twilio signed is the one configured on the number, so it is rebuilt from PUBLIC_URL and the
 * request's path and query as received: never from `req.protocol`/`Host`, which a TLS-terminating
 * router (Heroku, Render) rewrites. twilio's `validateRequest` compares in constant time and accepts
 * the with/without-default-port variants Twilio is known to sign.
 */
export function isValidTwilioSignature(
  authToken: string,
  publicUrl: string,
  originalUrl: string,
  params: Record<string, unknown>,
  signature: string | undefined,
): boolean {
  if (!signature) return false;
  return validateRequest(authToken, signature, publicUrl + originalUrl, params);
}
