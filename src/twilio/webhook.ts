import type { RequestHandler, Response } from 'express';
import type { ByteBudget } from '../http/byte-budget';
import { HttpError } from '../http/errors';
import { formParser } from '../http/form';
import { isValidTwilioSignature } from './signature';

/** Form parsing for Twilio webhooks: Twilio's own requests are a few KiB with a few dozen fields. */
export const twilioForm = (budget?: ByteBudget) => formParser({ limitBytes: 64 * 1024, parameterLimit: 500, budget });

export interface TwilioWebhookOptions {
  authToken: string;
  publicUrl: string;
  onRefused?: () => void;
}

/** Refuses (403) any request not signed by Twilio with our auth token. Runs after `twilioForm`. */
export function verifyTwilioSignature(opts: TwilioWebhookOptions): RequestHandler {
  return (req, res, next) => {
    // Every field as received, in an object without a prototype: copied into a plain object, a field
    // named __proto__ would vanish and an attacker could add one to a signed request. Arrays are copied
    // because twilio's signer recognises repeated keys with `instanceof Array`, which fails for arrays
    // made in another realm.
    const params: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
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

export interface TwilioWebhookConfig {
  publicUrl: string;
  twilio: { accountSid: string; authToken: string };
}

/** Form parsing, then `X-Twilio-Signature` (403 when missing or wrong): what every Twilio webhook route runs first. */
export function twilioVerified(config: TwilioWebhookConfig, onRefused: () => void, budget?: ByteBudget): RequestHandler[] {
  return [twilioForm(budget), verifyTwilioSignature({ authToken: config.twilio.authToken, publicUrl: config.publicUrl, onRefused })];
}

/** A webhook from another Twilio account than ours is answered 400. */
export function checkAccount(config: Pick<TwilioWebhookConfig, 'twilio'>, accountSid: string): void {
  if (accountSid !== config.twilio.accountSid) throw new HttpError(400, 'AccountSid is not the account this bridge serves');
}

/**
 * A TwiML answer, written in one go: Express's `send` works out a content type, an ETag and a charset
 * for every response, and the voice webhook answers every call.
 */
export function sendTwiml(res: Response, twiml: string): void {
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(twiml) }).end(twiml);
}
