import type { RequestHandler } from 'express';
import { formParser } from '../http/form';
import { isValidTwilioSignature } from './signature';

/** Form parsing for Twilio webhooks: Twilio's own requests are a few KiB with a few dozen fields. */
export const twilioForm = formParser({ limitBytes: 64 * 1024, parameterLimit: 500 });

export interface TwilioWebhookOptions {
  authToken: string;
  publicUrl: string;
  onRefused?: () => void;
}

/** Refuses (403) any request not signed by Twilio with our auth token. Runs after `twilioForm`. */
export function verifyTwilioSignature(opts: TwilioWebhookOptions): RequestHandler {
  return (req, res, next) => {
    // A plain object with plain arrays: twilio's signer recognises repeated keys with `instanceof Array`,
    // which fails for arrays made in another realm (node's querystring under a VM sandbox).
    const params: Record<string, unknown> = {};
    for (const [key, value] of Object.entries((req.body ?? {}) as Record<string, unknown>)) {
      params[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
    }
    let valid = false;
    try {
      valid = isValidTwilioSignature(opts.authToken, opts.publicUrl, req.originalUrl, params, req.get('x-twilio-signature'));
    } catch {
      valid = false;
    }
    if (!valid) {
      opts.onRefused?.();
      res.status(403).type('text/plain').send('Twilio signature missing or invalid');
      return;
    }
    next();
  };
}
